"""Single-use ticket stores: Redis (shared by every web process) or process memory."""

import time

from redis.asyncio import Redis


class RedisTicketStore:
    def __init__(self, redis: Redis, prefix: str = "coagent:ticket:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def put(self, ticket: str, value: str, ttl_seconds: int) -> None:
        await self._redis.set(self._prefix + ticket, value, ex=ttl_seconds)

    async def take(self, ticket: str) -> str | None:
        value = await self._redis.getdel(self._prefix + ticket)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)


class InMemoryTicketStore:
    def __init__(self) -> None:
        self._tickets: dict[str, tuple[str, float]] = {}

    async def put(self, ticket: str, value: str, ttl_seconds: int) -> None:
        now = time.monotonic()
        # Forget expired tickets as new ones come, so the map never grows without bound.
        for key in [k for k, (_, until) in self._tickets.items() if until <= now]:
            del self._tickets[key]
        self._tickets[ticket] = (value, now + ttl_seconds)

    async def take(self, ticket: str) -> str | None:
        value, until = self._tickets.pop(ticket, (None, 0.0))
        return value if until > time.monotonic() else None
