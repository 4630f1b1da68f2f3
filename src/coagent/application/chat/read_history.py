"""ReadHistory: a page of a room's messages by seq cursor."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.rooms import authorize_room
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.chat.message import Message
from coagent.domain.courses.policy import Action
from coagent.domain.errors import InvalidInput

MAX_PAGE = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadHistoryQuery:
    actor_id: UUID
    room_id: UUID
    limit: int = 50
    before_seq: int | None = None
    after_seq: int | None = None


class ReadHistory:
    """Members who may read the room. Ascending by seq; the newest page by default, the
    page before `before_seq`, or the page after `after_seq` (both: the page after
    `after_seq` that stops before `before_seq`). Any integer is a valid cursor (seqs start
    at 1). The cost does not grow with the room's age.
    """

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, query: ReadHistoryQuery) -> Sequence[Message]:
        if not 1 <= query.limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
        async with self._uow() as uow:
            _, room = await authorize_room(uow, query.actor_id, query.room_id, Action.CHAT_READ)
            return await uow.messages.page(
                room.id, limit=query.limit, before_seq=query.before_seq, after_seq=query.after_seq
            )
