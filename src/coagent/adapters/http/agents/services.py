"""The agent-configuration use cases the HTTP adapter calls (`services_of(AgentServices)`)."""

from dataclasses import dataclass

from litestar.di import NamedDependency

from coagent.application.agents.activate_config import ActivateAgentConfig
from coagent.application.agents.create_config import CreateAgentConfig
from coagent.application.agents.delete_config import DeleteAgentConfig
from coagent.application.agents.generate_prompt import GeneratePrompt
from coagent.application.agents.list_configs import ListAgentConfigs
from coagent.application.agents.list_system_configs import ListSystemAgentConfigs
from coagent.application.agents.list_versions import ListAgentConfigVersions
from coagent.application.agents.read_keys import ReadAgentKeys
from coagent.application.agents.restore_version import RestoreAgentConfigVersion
from coagent.application.agents.save_version import SaveAgentConfigVersion
from coagent.application.agents.set_keys import SetAgentKeys
from coagent.application.agents.update_config import UpdateAgentConfig
from coagent.application.agents.upsert_config import UpsertAgentConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentServices:
    create: CreateAgentConfig
    list: ListAgentConfigs
    list_system: ListSystemAgentConfigs
    update: UpdateAgentConfig
    upsert: UpsertAgentConfig
    delete: DeleteAgentConfig
    activate: ActivateAgentConfig
    read_keys: ReadAgentKeys
    set_keys: SetAgentKeys
    save_version: SaveAgentConfigVersion
    list_versions: ListAgentConfigVersions
    restore_version: RestoreAgentConfigVersion
    generate: GeneratePrompt


Agents = NamedDependency[AgentServices]
