"""The agent runtime's contexts (turns and proposals): built by `build_agents_runtime`."""

from coagent.main.agents_runtime import AgentsRuntime, build_agents_runtime
from coagent.main.compose.infra import Infrastructure, Publishing


def agents_runtime(infra: Infrastructure, publishing: Publishing) -> AgentsRuntime:
    return build_agents_runtime(
        infra.settings,
        uow=infra.uow,
        clock=infra.clock,
        ids=infra.ids,
        call_model=infra.call_model,
        publisher=publishing.publisher,
        stream=publishing.agent_stream,
        limiter=infra.rate_limiter,
        kicker=infra.kicker,
    )
