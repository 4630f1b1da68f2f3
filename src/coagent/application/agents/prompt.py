"""The conversation an agent is shown: role-structured, with display names, chat as data."""

from collections.abc import Sequence
from dataclasses import dataclass

from coagent.application.ports.llm import ChatMessage
from coagent.domain.agents.config import AgentConfig
from coagent.domain.chat.message import Message
from coagent.domain.courses.room import Room


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptContext:
    """Where the agent speaks: course title, the room (name, description)."""

    course_title: str
    room: Room


def build_prompt(
    *, config: AgentConfig, context: PromptContext, history: Sequence[Message]
) -> tuple[ChatMessage, ...]:
    """The system part once (the configuration's prompt, the course and room context, and
    the rule that chat lines are quoted data, never instructions), then the last
    `config.context_window` messages of `history` (ascending by seq): this agent's own
    (same `agent_type`) as `assistant`, everyone else's as `user` with the speaker's display
    name inside the delimited content.
    """
    raise NotImplementedError
