"""The agents context: agent configurations, their keys and versions, the design agent."""

from coagent.adapters.http.agents.services import AgentServices
from coagent.application.agents.activate_config import ActivateAgentConfig
from coagent.application.agents.create_config import CreateAgentConfig
from coagent.application.agents.delete_config import DeleteAgentConfig
from coagent.application.agents.generate_prompt import GeneratePrompt
from coagent.application.agents.list_configs import ListAgentConfigs
from coagent.application.agents.list_system_configs import ListSystemAgentConfigs
from coagent.application.agents.list_versions import ListAgentConfigVersions
from coagent.application.agents.read_keys import ReadAgentKeys
from coagent.application.agents.restore_version import RestoreAgentConfigVersion
from coagent.application.agents.rotate_keys import RotateAgentKeys
from coagent.application.agents.save_version import SaveAgentConfigVersion
from coagent.application.agents.set_keys import SetAgentKeys
from coagent.application.agents.update_config import UpdateAgentConfig
from coagent.application.agents.upsert_config import UpsertAgentConfig
from coagent.main.compose.infra import Infrastructure


def agent_services(infra: Infrastructure) -> AgentServices:
    uow, secrets, clock, ids = infra.uow, infra.secret_box, infra.clock, infra.ids
    endpoints = infra.endpoints
    return AgentServices(
        create=CreateAgentConfig(
            uow=uow, secrets=secrets, clock=clock, ids=ids, endpoints=endpoints
        ),
        list=ListAgentConfigs(uow=uow),
        list_system=ListSystemAgentConfigs(uow=uow),
        update=UpdateAgentConfig(uow=uow, secrets=secrets, clock=clock, endpoints=endpoints),
        upsert=UpsertAgentConfig(
            uow=uow, secrets=secrets, clock=clock, ids=ids, endpoints=endpoints
        ),
        delete=DeleteAgentConfig(uow=uow),
        activate=ActivateAgentConfig(uow=uow),
        read_keys=ReadAgentKeys(uow=uow),
        set_keys=SetAgentKeys(uow=uow, secrets=secrets, clock=clock),
        save_version=SaveAgentConfigVersion(uow=uow, clock=clock, ids=ids),
        list_versions=ListAgentConfigVersions(uow=uow),
        restore_version=RestoreAgentConfigVersion(uow=uow, clock=clock, endpoints=endpoints),
        generate=GeneratePrompt(
            uow=uow,
            call_model=infra.call_model,
            secrets=secrets,
            timeout=infra.settings.llm_timeout,
            quota=infra.llm_quota,
        ),
    )


def rotate_keys(infra: Infrastructure) -> RotateAgentKeys:
    return RotateAgentKeys(uow=infra.uow, secrets=infra.secret_box)
