"""InMemoryAttemptLimiter and InMemoryRevocationList, on a fake clock (no sleeping)."""

from datetime import UTC, datetime
from uuid import UUID

import pytest

from coagent.adapters.security.memory import InMemoryAttemptLimiter, InMemoryRevocationList
from coagent.domain.accounts.throttle import Backoff

pytestmark = pytest.mark.anyio
A = UUID("00000000-0000-7000-8000-00000000000a")
B = UUID("00000000-0000-7000-8000-00000000000b")


class FakeTime:
    """The stores' clock: `monotonic` for the limiter, `now()` (the Clock port) for the list."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


class Clocked:
    """The Clock port over a FakeTime."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time.now, UTC)


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def limiter(clock: FakeTime) -> InMemoryAttemptLimiter:
    return InMemoryAttemptLimiter(monotonic=clock.monotonic)


# Three free failures in 60 s, then 2 s, 4 s, 8 s... at most 20 s.
THREE = Backoff(free=3, window_seconds=60, first_wait_seconds=2, max_wait_seconds=20)
FIVE = Backoff(free=5, window_seconds=600, first_wait_seconds=1, max_wait_seconds=300)


async def fail(limiter: InMemoryAttemptLimiter, clock: FakeTime, key: str, times: int) -> None:
    for n in range(times):
        assert await limiter.attempt([(key, THREE)], f"{key}-{clock.now}-{n}") == 0
        clock.now += 1


# --- InMemoryAttemptLimiter ---------------------------------------------------------------------


async def test_free_failures_then_a_doubling_wait_after_the_latest(
    limiter: InMemoryAttemptLimiter, clock: FakeTime
) -> None:
    await fail(limiter, clock, "alice", 3)  # failures at +0, +1, +2; now +3

    assert await limiter.attempt([("alice", THREE)], "x") == pytest.approx(1.0)  # 2 s after +2
    clock.now += 1
    assert await limiter.attempt([("alice", THREE)], "4th") == 0
    assert await limiter.attempt([("alice", THREE)], "x") == pytest.approx(4.0)
    clock.now += 4
    assert await limiter.attempt([("alice", THREE)], "5th") == 0
    assert await limiter.attempt([("alice", THREE)], "x") == pytest.approx(8.0)


async def test_the_wait_stops_doubling_at_its_cap_and_ends_with_the_window(
    limiter: InMemoryAttemptLimiter, clock: FakeTime
) -> None:
    for n in range(3):
        assert await limiter.attempt([("alice", THREE)], f"free{n}") == 0
    waits = []
    for n in range(5):  # each next attempt comes as soon as it is allowed
        waits.append(await limiter.attempt([("alice", THREE)], "x"))
        clock.now += waits[-1]
        assert await limiter.attempt([("alice", THREE)], f"a{n}") == 0
    assert waits == [2, 4, 8, 16, 20]  # doubling, capped at 20 (at +0, +2, +6, +14, +30, +50)
    assert await limiter.attempt([("alice", THREE)], "x") == pytest.approx(20.0)
    # Failures older than 60 s are forgotten: at +70 only +14, +30 and +50 count, 3 of 3
    # free, and the wait after the latest (2 s) is over.
    clock.now += 20
    assert await limiter.attempt([("alice", THREE)], "later") == 0


async def test_the_longest_wait_of_the_keys_wins_and_a_refusal_counts_nothing(
    limiter: InMemoryAttemptLimiter, clock: FakeTime
) -> None:
    keys = [("pair", THREE), ("address", FIVE)]
    for n in range(3):
        assert await limiter.attempt(keys, f"k{n}") == 0
    assert await limiter.attempt(keys, "x") == pytest.approx(2.0)  # the pair's
    assert await limiter.attempt([("address", FIVE)], "other-pair") == 0  # 4 of 5
    assert len(limiter._failures["address"]) == 4  # the refused attempt was not counted


async def test_success_resets_and_refunds(limiter: InMemoryAttemptLimiter, clock: FakeTime) -> None:
    keys = [("pair", THREE), ("account", FIVE)]
    await limiter.attempt(keys, "wrong")
    await limiter.attempt(keys, "right")

    await limiter.succeeded("right", reset=["pair"], refund=["account", "nothing-here"])

    assert "pair" not in limiter._failures
    assert [attempt for _, attempt in limiter._failures["account"]] == ["wrong"]
    await limiter.succeeded("wrong", reset=[], refund=["account"])
    assert limiter._failures == {}


async def test_memory_stays_bounded(clock: FakeTime) -> None:
    limiter = InMemoryAttemptLimiter(max_keys=100, monotonic=clock.monotonic)
    for n in range(1000):
        assert await limiter.attempt([(f"user{n}", THREE)], "a") == 0
        clock.now += 0.01

    assert len(limiter._failures) <= 100
    assert "user999" in limiter._failures  # the newest are kept


# --- InMemoryRevocationList ---------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def test_a_revocation_lasts_until_its_deadline(clock: FakeTime) -> None:
    revocations = InMemoryRevocationList(clock=Clocked(clock))
    await revocations.revoke([A], until=at(clock.now + 600))

    assert await revocations.is_revoked(A)
    assert not await revocations.is_revoked(B)
    clock.now += 599
    assert await revocations.is_revoked(A)
    clock.now += 1
    assert not await revocations.is_revoked(A)


async def test_revoking_several_and_extending(clock: FakeTime) -> None:
    revocations = InMemoryRevocationList(clock=Clocked(clock))
    await revocations.revoke([A, B], until=at(clock.now + 60))
    await revocations.revoke([A], until=at(clock.now + 600))

    clock.now += 120

    assert await revocations.is_revoked(A)
    assert not await revocations.is_revoked(B)


async def test_expired_entries_are_forgotten(clock: FakeTime) -> None:
    revocations = InMemoryRevocationList(clock=Clocked(clock))
    await revocations.revoke([A], until=at(clock.now + 60))
    clock.now += 61

    await revocations.revoke([B], until=at(clock.now + 60))

    assert set(revocations._until) == {B}
