"""The tools an agent turn may call: which are offered to a configuration, and running one
call (validated against its schema, then executed) into the result fed back to the model.

Not a use case: `RunTurns` runs the calls of its tool loop through `TurnTools`.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.llm import ToolCall, ToolSpec
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.agents.config import AgentConfig, AgentType, ConfigVersion, snapshot_of
from coagent.domain.agents.tools import (
    UPDATE_TRIGGER,
    UPDATE_TRIGGER_DESCRIPTION,
    UPDATE_TRIGGER_SCHEMA,
    Bound,
    decide_update,
    validate_update_trigger,
)
from coagent.domain.agents.trigger import trigger_to_dict
from coagent.domain.errors import InvalidInput

SPECS: Mapping[str, ToolSpec] = {
    UPDATE_TRIGGER: ToolSpec(
        name=UPDATE_TRIGGER,
        description=UPDATE_TRIGGER_DESCRIPTION,
        parameters=UPDATE_TRIGGER_SCHEMA,
    ),
}
AUDIT_ACTION = "agent_config.tool_update_trigger"


def offered(config: AgentConfig) -> tuple[ToolSpec, ...]:
    """The tools a configuration lists, as the model is offered them."""
    return tuple(SPECS[name] for name in config.tools if name in SPECS)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolOutcome:
    """`arguments`: as validated (None when they did not validate); `result`: what the model
    is told (`ok` false with an `error` it can act on, or the tool's answer).
    """

    arguments: Mapping[str, Any] | None
    result: Mapping[str, Any]

    def content(self) -> str:
        return json.dumps(self.result, sort_keys=True)


def call_key(tool: str, arguments: Mapping[str, Any]) -> str:
    """A tool call's identity within its turn: the tool and its validated arguments. Not the
    provider's call id: a turn run again after losing its lease asks the model again, which
    names the same call afresh.
    """
    canonical = json.dumps([tool, arguments], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class TurnTools:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def run(
        self, call: ToolCall, *, config: AgentConfig, course_id: UUID, turn_id: UUID
    ) -> ToolOutcome:
        """Never raises for what the model sent: an unknown or unoffered tool, or invalid
        arguments, are an error result it can correct.
        """
        if call.name not in config.tools or call.name not in SPECS:
            offered_names = ", ".join(config.tools) or "none"
            return ToolOutcome(
                arguments=None,
                result={
                    "ok": False,
                    "error": f"unknown tool {call.name!r}; tools offered: {offered_names}",
                },
            )
        try:
            arguments = validate_update_trigger(call.arguments)
        except InvalidInput as error:
            return ToolOutcome(
                arguments=None,
                result={"ok": False, "error": f"invalid arguments: {error.detail}"},
            )
        validated = {
            "target_agent": arguments.target_agent,
            "trigger_type": arguments.trigger_type.value,
            "value": arguments.value,
        }
        decided = decide_update(arguments, config.tool_bounds)
        if isinstance(decided, Bound):
            return ToolOutcome(
                arguments=validated,
                result={
                    "ok": False,
                    "error": "out_of_bounds",
                    "allowed": {"min": decided.low, "max": decided.high},
                },
            )
        now = self._clock.now()
        key = call_key(call.name, validated)
        async with self._uow() as uow:
            recorded = await uow.turns.tool_result(turn_id, key)
            if recorded is not None:  # this turn ran it already (before losing its lease)
                return ToolOutcome(arguments=validated, result=recorded)
            target = await uow.agent_configs.active_for(
                course_id, AgentType(arguments.target_agent)
            )
            if target is None:
                return ToolOutcome(
                    arguments=validated,
                    result={
                        "ok": False,
                        "error": f"the course has no active {arguments.target_agent} agent",
                    },
                )
            updated = replace(target, trigger=decided, updated_at=now)
            await uow.agent_configs.update(updated)
            await uow.agent_configs.add_version(
                ConfigVersion(
                    id=self._ids.new_id(),
                    config_id=target.id,
                    version_label=f"{UPDATE_TRIGGER} (turn {turn_id})"[:100],
                    snapshot=snapshot_of(updated),
                    created_by=None,
                    created_at=now,
                )
            )
            await uow.audit.record(
                actor_id=None,
                action=AUDIT_ACTION,
                target_type="agent_config",
                target_id=str(target.id),
                details={
                    "turn_id": str(turn_id),
                    "caller_config_id": str(config.id),
                    "before": trigger_to_dict(target.trigger),
                    "after": trigger_to_dict(decided),
                },
            )
            result = {
                "ok": True,
                "target_agent": arguments.target_agent,
                "trigger": trigger_to_dict(decided),
            }
            if await uow.turns.record_tool_call(
                turn_id, key, tool=call.name, result=result, now=now
            ):
                await uow.commit()
                return ToolOutcome(arguments=validated, result=result)
        # Another run of this turn recorded the call first: what this one did is rolled back.
        async with self._uow() as uow:
            recorded = await uow.turns.tool_result(turn_id, key)
        return ToolOutcome(arguments=validated, result=recorded or result)
