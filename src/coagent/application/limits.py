"""Rate limits on actions, and the key scheme every use case shares.

Keys name who is limited, per what: `chat:send:{user}:{room}`, `llm:user:{user}`,
`llm:course:{course}`. Anything that calls a model (the design agent today, agent turns
later) charges `LlmCallQuota` before the call.
"""

import math
from dataclasses import dataclass
from uuid import UUID

from coagent.application.ports.limits import RateLimiter
from coagent.domain.errors import TooManyAttempts


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `limit` actions in any `window_seconds`."""

    limit: int
    window_seconds: float


def chat_send_key(user_id: UUID, room_id: UUID) -> str:
    return f"chat:send:{user_id}:{room_id}"


def llm_user_key(user_id: UUID) -> str:
    return f"llm:user:{user_id}"


def llm_course_key(course_id: UUID) -> str:
    return f"llm:course:{course_id}"


async def charge(limiter: RateLimiter, key: str, rate: Rate, detail: str) -> None:
    """Count one action under `key`, or raise `TooManyAttempts` (nothing counted) with the
    whole seconds until one is allowed again.
    """
    wait = await limiter.hit(key, limit=rate.limit, window_seconds=rate.window_seconds)
    if wait > 0:
        raise TooManyAttempts(f"{detail}; retry in {math.ceil(wait)} s", math.ceil(wait))


class LlmCallQuota:
    """Per-user and per-course limits on model calls (goal S5, docs/benchmarks.md).

    The user's limit is charged first, so a user refused by it never spends the course's
    budget; a call refused by the course's limit still counts against its user.
    """

    def __init__(self, *, limiter: RateLimiter, per_user: Rate, per_course: Rate) -> None:
        self._limiter = limiter
        self._per_user = per_user
        self._per_course = per_course

    async def charge(self, *, user_id: UUID, course_id: UUID | None) -> None:
        await charge(
            self._limiter, llm_user_key(user_id), self._per_user, "Too many model calls from you"
        )
        if course_id is not None:
            await charge(
                self._limiter,
                llm_course_key(course_id),
                self._per_course,
                "Too many model calls in this course",
            )
