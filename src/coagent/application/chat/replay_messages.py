"""ReplayMessages: committed messages for the fan-out, read in short units of work."""

from collections.abc import Sequence
from uuid import UUID

from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.chat.message import Message


class ReplayMessages(UnitOfWorkUseCase):
    """Internal: the live fan-out only, for sockets authorized when they joined. It fills
    gaps the bus left and serves resumes that reach back past what it holds in memory.
    """

    async def after(self, room_id: UUID, seq: int, limit: int) -> Sequence[Message]:
        async with self._uow() as uow:
            return await uow.messages.page(room_id, limit=limit, after_seq=seq)

    async def last_seq(self, room_id: UUID) -> int:
        async with self._uow() as uow:
            return await uow.messages.last_seq(room_id)
