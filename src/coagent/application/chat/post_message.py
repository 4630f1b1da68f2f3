"""PostMessage: store a human message with the room's next seq, then publish it."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.courses.access import authorize_room
from coagent.application.limits import Rate, charge, chat_send_key
from coagent.application.ports.chat import ChatPublisher, NewMessage
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.limits import RateLimiter
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.turns import TurnKicker
from coagent.domain.chat.message import Message, check_client_msg_id, check_content
from coagent.domain.courses.policy import Action
from coagent.domain.errors import Conflict


@dataclass(frozen=True, slots=True, kw_only=True)
class PostMessageCommand:
    actor_id: UUID
    room_id: UUID
    content: str
    client_msg_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PostedMessage:
    message: Message
    # False when `client_msg_id` named a message already stored: nothing new was written.
    created: bool


class PostMessage:
    """Members who may write in the room (students of a restricted room only when assigned).

    Guarantees: the message is committed with a gapless per-room `seq` before anyone sees
    it; a resend with the same `client_msg_id` returns the stored message and publishes
    nothing; a resend whose content differs is a Conflict, never a silent overwrite. After
    the publish, `agents` (when given) is asked to consider the message: one enqueue, no
    query (the agents decide on a task worker).

    Rate: at most `rate` new messages per sender and room, whichever path they come by (HTTP
    or either WebSocket dialect) and across processes when the limiter is shared; more raise
    `TooManyAttempts` and store nothing. Only a message about to be stored is counted: a
    resend of a stored one is answered without counting, and refusals (not a member, bad
    content) are not counted either.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        publisher: ChatPublisher,
        clock: Clock,
        ids: IdGenerator,
        max_length: int,
        limiter: RateLimiter,
        rate: Rate,
        agents: TurnKicker | None = None,
    ) -> None:
        self._uow = uow
        self._limiter = limiter
        self._rate = rate
        self._agents = agents
        self._publisher = publisher
        self._clock = clock
        self._ids = ids
        self._max_length = max_length

    async def execute(self, command: PostMessageCommand) -> PostedMessage:
        content = check_content(command.content, max_length=self._max_length)
        client_msg_id = check_client_msg_id(command.client_msg_id)
        async with self._uow() as uow:
            actor, room = await authorize_room(
                uow, command.actor_id, command.room_id, Action.CHAT_WRITE
            )
            if client_msg_id is not None:
                earlier = await uow.messages.find_sent(room.id, actor.id, client_msg_id)
                if earlier is not None:
                    return _replayed(earlier, content)
            # One Redis round trip while the pooled connection is held (no transaction is
            # open on it yet): counting before the replay check would count resends.
            await charge(
                self._limiter,
                chat_send_key(actor.id, room.id),
                self._rate,
                "Too many messages in this room",
            )
            message_id, now = self._ids.new_id(), self._clock.now()
            try:
                seq = await uow.messages.append_committed(
                    NewMessage(
                        id=message_id,
                        room_id=room.id,
                        content=content,
                        created_at=now,
                        sender_id=actor.id,
                        agent_type=None,
                        client_msg_id=client_msg_id,
                    )
                )
            except Conflict:
                if client_msg_id is None:
                    raise
                race = True
            else:
                race = False
        if race:  # the same send arrived twice at once; the other one won
            async with self._uow() as uow:
                earlier = await uow.messages.find_sent(room.id, actor.id, client_msg_id or "")
            if earlier is None:  # pragma: no cover - the winner committed before we failed
                raise Conflict("Message could not be stored; send it again")
            return _replayed(earlier, content)
        message = Message(
            id=message_id,
            room_id=room.id,
            seq=seq,
            content=content,
            created_at=now,
            sender_id=actor.id,
            sender_name=actor.display_name,
            client_msg_id=client_msg_id,
        )
        await self._publisher.message_posted(message)
        if self._agents is not None:
            await self._agents.consider_message(room.id, seq)
        return PostedMessage(message=message, created=True)


def _replayed(earlier: Message, content: str) -> PostedMessage:
    if earlier.content != content:
        raise Conflict("client_msg_id was already used for a different message")
    return PostedMessage(message=earlier, created=False)
