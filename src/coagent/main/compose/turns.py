"""The agent runtime's contexts (turns and proposals): built by `build_agents_runtime`."""

from coagent.main.agents_runtime import AgentsRuntime, build_agents_runtime
from coagent.main.compose.infra import Infrastructure, Realtime


def agents_runtime(infra: Infrastructure, realtime: Realtime) -> AgentsRuntime:
    return build_agents_runtime(
        infra.settings,
        uow=infra.uow,
        clock=infra.clock,
        ids=infra.ids,
        call_model=infra.call_model,
        publisher=realtime.hub,
        stream=realtime.agent_stream,
        limiter=infra.rate_limiter,
        kicker=infra.kicker,
    )
