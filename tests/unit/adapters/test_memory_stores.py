"""InMemoryAttemptLimiter and InMemoryRevocationList, on a fake `time` (no sleeping)."""

from datetime import UTC, datetime
from uuid import UUID

import pytest

from coagent.adapters.security import memory
from coagent.adapters.security.memory import InMemoryAttemptLimiter, InMemoryRevocationList

pytestmark = pytest.mark.anyio
LIMITS = {"login": (3, 60), "addr": (5, 600)}
A = UUID("00000000-0000-7000-8000-00000000000a")
B = UUID("00000000-0000-7000-8000-00000000000b")


class FakeTime:
    """Stands in for the `time` module inside `memory` only (asyncio keeps the real one)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(memory, "time", fake)
    return fake


@pytest.fixture
def limiter(clock: FakeTime) -> InMemoryAttemptLimiter:
    return InMemoryAttemptLimiter(LIMITS)


async def fail(limiter: InMemoryAttemptLimiter, clock: FakeTime, key: str, times: int) -> None:
    for _ in range(times):
        await limiter.record_failure([key])
        clock.now += 1


# --- InMemoryAttemptLimiter ---------------------------------------------------------------------


async def test_below_the_limit_there_is_no_wait(
    limiter: InMemoryAttemptLimiter, clock: FakeTime
) -> None:
    await fail(limiter, clock, "login:alice", 2)

    assert await limiter.retry_after(["login:alice"]) == 0
    assert await limiter.retry_after(["login:bob", "addr:1.2.3.4"]) == 0


async def test_at_the_limit_the_wait_lasts_until_the_oldest_counted_failure_expires(
    limiter: InMemoryAttemptLimiter, clock: FakeTime
) -> None:
    start = clock.now
    await fail(limiter, clock, "login:alice", 3)  # failures at start, +1, +2; now start+3

    assert await limiter.retry_after(["login:alice"]) == 58  # 57 s left, answered as int + 1
    clock.now = start + 59.5
    assert await limiter.retry_after(["login:alice"]) == 1
    clock.now = start + 60  # the first failure leaves the window
    assert await limiter.retry_after(["login:alice"]) == 0


async def test_the_window_slides(limiter: InMemoryAttemptLimiter, clock: FakeTime) -> None:
    await fail(limiter, clock, "login:alice", 2)
    clock.now += 100  # both old failures expire
    await fail(limiter, clock, "login:alice", 2)

    assert await limiter.retry_after(["login:alice"]) == 0
    await fail(limiter, clock, "login:alice", 1)
    assert await limiter.retry_after(["login:alice"]) > 0


async def test_each_prefix_has_its_own_limit_and_the_longest_wait_wins(
    limiter: InMemoryAttemptLimiter, clock: FakeTime
) -> None:
    keys = ["login:alice", "addr:1.2.3.4"]
    for _ in range(3):
        await limiter.record_failure(keys)
        clock.now += 1

    login_wait = await limiter.retry_after(["login:alice"])
    assert await limiter.retry_after(["addr:1.2.3.4"]) == 0  # 3 of 5
    assert login_wait > 0
    for _ in range(2):
        await limiter.record_failure(keys)
    address_wait = await limiter.retry_after(["addr:1.2.3.4"])
    assert address_wait > login_wait
    assert await limiter.retry_after(keys) == address_wait


async def test_keys_are_independent_and_clear_resets_one(
    limiter: InMemoryAttemptLimiter, clock: FakeTime
) -> None:
    await fail(limiter, clock, "login:alice", 3)
    await fail(limiter, clock, "login:bob", 3)

    await limiter.clear("login:alice")

    assert await limiter.retry_after(["login:alice"]) == 0
    assert await limiter.retry_after(["login:bob"]) > 0
    await limiter.clear("login:nobody")  # clearing an unknown key is fine


async def test_asking_about_keys_does_not_grow_memory(limiter: InMemoryAttemptLimiter) -> None:
    for n in range(1000):
        assert await limiter.retry_after([f"login:user{n}", f"addr:10.0.{n // 256}.{n % 256}"]) == 0

    assert len(limiter._failures) == 0


# --- InMemoryRevocationList ---------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def test_a_revocation_lasts_until_its_deadline(clock: FakeTime) -> None:
    revocations = InMemoryRevocationList()
    await revocations.revoke([A], until=at(clock.now + 600))

    assert await revocations.is_revoked(A)
    assert not await revocations.is_revoked(B)
    clock.now += 599
    assert await revocations.is_revoked(A)
    clock.now += 1
    assert not await revocations.is_revoked(A)


async def test_revoking_several_and_extending(clock: FakeTime) -> None:
    revocations = InMemoryRevocationList()
    await revocations.revoke([A, B], until=at(clock.now + 60))
    await revocations.revoke([A], until=at(clock.now + 600))

    clock.now += 120

    assert await revocations.is_revoked(A)
    assert not await revocations.is_revoked(B)


async def test_expired_entries_are_forgotten(clock: FakeTime) -> None:
    revocations = InMemoryRevocationList()
    await revocations.revoke([A], until=at(clock.now + 60))
    clock.now += 61

    await revocations.revoke([B], until=at(clock.now + 60))

    assert set(revocations._until) == {B}
