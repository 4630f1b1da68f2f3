"""Single-use ticket stores: Redis (shared by every web process) or process memory."""

import time

from redis.asyncio import Redis

from coagent.adapters.redis_circuit import REDIS_RETRY_AFTER_SECONDS, RedisCircuit, RedisDown
from coagent.domain.errors import Unavailable

TICKETS_UNAVAILABLE = (
    "Chat tickets are unavailable for a moment; connect with the access token, or retry shortly"
)


class RedisTicketStore:
    """Without Redis no ticket can be issued or redeemed (another process may hold it):
    both fail with `Unavailable` (HTTP 503, WebSocket close 4503). docs/adr/0007.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str = "coagent:ticket:",
        *,
        circuit: RedisCircuit | None = None,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._circuit = circuit or RedisCircuit()

    async def put(self, ticket: str, value: str, ttl_seconds: int) -> None:
        try:
            await self._circuit.call(
                lambda: self._redis.set(self._prefix + ticket, value, ex=ttl_seconds)
            )
        except RedisDown as error:
            raise Unavailable(TICKETS_UNAVAILABLE, REDIS_RETRY_AFTER_SECONDS) from error

    async def take(self, ticket: str) -> str | None:
        try:
            value = await self._circuit.call(lambda: self._redis.getdel(self._prefix + ticket))
        except RedisDown as error:
            raise Unavailable(TICKETS_UNAVAILABLE, REDIS_RETRY_AFTER_SECONDS) from error
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
