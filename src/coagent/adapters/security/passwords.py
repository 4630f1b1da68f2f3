"""argon2id password hashing in a small thread pool (argon2-cffi releases the GIL)."""

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP: argon2id, m=19 MiB, t=2, p=1.
OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2


def _lower_priority() -> None:
    """Hashing threads yield the CPU to the event loops (Linux: per-thread nice value), so
    logins do not stretch the latency of every other request on a small machine.
    """
    with suppress(AttributeError, OSError, PermissionError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class Argon2PasswordHasher:
    def __init__(
        self,
        *,
        memory_cost: int = OWASP_MEMORY_KIB,
        time_cost: int = OWASP_TIME_COST,
        max_concurrency: int = 2,
    ) -> None:
        self._argon = _Argon2(memory_cost=memory_cost, time_cost=time_cost, parallelism=1)
        # The pool bounds memory (m per hash) and CPU; callers beyond it queue.
        self._pool = ThreadPoolExecutor(
            max_concurrency, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._dummy_hash = self._argon.hash("dummy password for timing equalisation")

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._argon.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, self._verify, password_hash or self._dummy_hash, password, password_hash
        )

    def _verify(self, password_hash: str, password: str, real: str | None) -> bool:
        try:
            ok = self._argon.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and real is not None

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._argon.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
