"""The agents context: agent configurations, their keys and versions, the design agent."""

from coagent.adapters.http.agents.services import AgentServices
from coagent.application.agents.rotate_keys import RotateAgentKeys
from coagent.main.compose.infra import Infrastructure
from coagent.main.compose.wiring import assemble


def agent_services(infra: Infrastructure) -> AgentServices:
    ports = {
        "uow": infra.uow,
        "secrets": infra.secret_box,
        "clock": infra.clock,
        "ids": infra.ids,
        "endpoints": infra.endpoints,
        "call_model": infra.call_model,
        "timeout": infra.settings.llm_timeout,
        "quota": infra.llm_quota,
    }
    return assemble(AgentServices, ports)


def rotate_keys(infra: Infrastructure) -> RotateAgentKeys:
    return RotateAgentKeys(uow=infra.uow, secrets=infra.secret_box)
