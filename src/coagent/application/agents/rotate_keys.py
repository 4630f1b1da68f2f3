"""RotateAgentKeys: re-encrypt every stored provider key under the newest server key."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.security import SecretBox
from coagent.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class RotationReport:
    rotated: int
    # Keys none of the configured server keys can decrypt (left as they are).
    undecryptable: int


class RotateAgentKeys:
    """Operators, through `coagent keys rotate` (no HTTP route).

    After ENCRYPTION_KEYS gains a new first key (the old ones kept after it), this rewrites
    every key's ciphertext under that first key, in batches of `batch_size` keys, one
    transaction per batch; then the old server keys can be dropped. Idempotent: running it
    again re-encrypts under the same newest key. Plaintext exists only inside the SecretBox
    call and is never logged or returned.
    """

    def __init__(
        self, *, uow: UnitOfWorkFactory, secrets: SecretBox, batch_size: int = 100
    ) -> None:
        self._uow = uow
        self._secrets = secrets
        self._batch_size = batch_size

    async def execute(self) -> RotationReport:
        rotated = undecryptable = 0
        after: UUID | None = None
        while True:
            async with self._uow() as uow:
                batch = await uow.agent_configs.stored_keys(after=after, limit=self._batch_size)
                for key in batch:
                    try:
                        ciphertext = self._secrets.rotate(key.ciphertext)
                    except InvalidInput:
                        undecryptable += 1
                        continue
                    await uow.agent_configs.replace_ciphertext(key.id, ciphertext)
                    rotated += 1
                await uow.commit()
            if len(batch) < self._batch_size:
                return RotationReport(rotated=rotated, undecryptable=undecryptable)
            after = batch[-1].id
