"""The chat use cases against the fakes: PostMessage, ReadHistory and the ticket pair."""

from dataclasses import dataclass, replace
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from coagent.application.accounts.authenticate import Principal
from coagent.application.chat.issue_chat_ticket import IssueChatTicket
from coagent.application.chat.post_message import PostMessage, PostMessageCommand
from coagent.application.chat.read_history import ReadHistory, ReadHistoryQuery
from coagent.application.chat.redeem_chat_ticket import RedeemChatTicket
from coagent.application.limits import Rate, chat_send_key
from coagent.application.ports.chat import PageKey
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.chat.message import Message
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import Room
from coagent.domain.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
)
from tests.fakes.chat import DictHistoryCache, FakeTicketStore, RecordingChatPublisher
from tests.fakes.limits import FakeRateLimiter
from tests.fakes.security import FakeRevocationList
from tests.unit.application.conftest import Accounts
from tests.unit.application.test_rooms import assign, enroll, new_course, new_room

pytestmark = pytest.mark.anyio

MAX_LENGTH = 100
SEND_RATE = Rate(limit=1000, window_seconds=10)
SMALL_RATE = Rate(limit=3, window_seconds=10)


@dataclass
class Chat:
    accounts: Accounts
    publisher: RecordingChatPublisher
    limiter: FakeRateLimiter
    post: PostMessage
    history: ReadHistory
    cache: DictHistoryCache
    room: Room
    owner: User
    student: User
    peer: User
    outsider: User

    async def send(self, user: User, content: str, client_msg_id: str | None = None) -> Message:
        posted = await self.post.execute(
            PostMessageCommand(
                actor_id=user.id, room_id=self.room.id, content=content, client_msg_id=client_msg_id
            )
        )
        assert posted.created
        return posted.message

    async def read(self, user: User, **query: int | None) -> list[int]:
        page = await self.history.execute(
            ReadHistoryQuery(actor_id=user.id, room_id=self.room.id, **query)  # type: ignore[arg-type]
        )
        return [message.seq for message in page]

    def stored(self) -> list[Message]:
        return sorted(self.accounts.store.messages.values(), key=lambda m: (m.room_id, m.seq))


@pytest.fixture
async def chat(accounts: Accounts) -> Chat:
    owner = await accounts.add_user(role=Role.TEACHER, full_name="Olga Owner")
    student = await accounts.add_user(role=Role.STUDENT, full_name="Sam Student")
    peer = await accounts.add_user(role=Role.STUDENT, full_name="Pia Peer")
    outsider = await accounts.add_user(role=Role.STUDENT, full_name="Otto Outsider")
    course = await new_course(accounts, owner)
    await enroll(accounts, course.id, student, CourseRole.STUDENT)
    await enroll(accounts, course.id, peer, CourseRole.STUDENT)
    room = await new_room(accounts, owner, course)
    publisher = RecordingChatPublisher()
    cache = DictHistoryCache()
    limiter = FakeRateLimiter()
    return Chat(
        accounts=accounts,
        publisher=publisher,
        limiter=limiter,
        post=PostMessage(
            uow=accounts.uow,
            publisher=publisher,
            clock=accounts.clock,
            ids=accounts.ids,
            max_length=MAX_LENGTH,
            limiter=limiter,
            rate=SEND_RATE,
        ),
        history=ReadHistory(uow=accounts.uow, cache=cache),
        cache=cache,
        room=room,
        owner=owner,
        student=student,
        peer=peer,
        outsider=outsider,
    )


# --- PostMessage


async def test_messages_get_seqs_1_2_3(chat: Chat) -> None:
    sent = [
        await chat.send(user, f"m{n}")
        for n, user in enumerate((chat.student, chat.peer, chat.owner))
    ]
    assert [m.seq for m in sent] == [1, 2, 3]
    assert [(m.seq, m.content) for m in chat.stored()] == [(1, "m0"), (2, "m1"), (3, "m2")]
    assert sent[0].sender_id == chat.student.id
    assert sent[0].sender_name == "Sam Student"
    assert sent[0].created_at == chat.accounts.clock.now()
    assert sent[0].room_id == chat.room.id


async def test_a_message_is_published_once_after_its_commit(chat: Chat) -> None:
    seen_committed: list[bool] = []

    def observe(message: Message) -> None:
        committed = chat.accounts.store.messages.get(message.id)
        seen_committed.append(committed is not None and committed.seq == message.seq)

    chat.publisher.observer = observe
    message = await chat.send(chat.student, "hello", "c-1")
    assert chat.publisher.messages == [message]
    assert seen_committed == [True]


async def test_a_resend_returns_the_stored_message_and_publishes_nothing(chat: Chat) -> None:
    first = await chat.send(chat.student, "once", "c-1")
    commits = chat.accounts.store.commits
    again = await chat.post.execute(
        PostMessageCommand(
            actor_id=chat.student.id, room_id=chat.room.id, content="once", client_msg_id="c-1"
        )
    )
    assert again.created is False
    assert (again.message.id, again.message.seq) == (first.id, first.seq)
    assert chat.publisher.messages == [first]
    assert chat.accounts.store.commits == commits
    assert len(chat.stored()) == 1


async def test_client_msg_ids_are_per_sender(chat: Chat) -> None:
    await chat.send(chat.student, "mine", "c-1")
    theirs = await chat.send(chat.peer, "mine", "c-1")
    assert theirs.seq == 2
    assert len(chat.publisher.messages) == 2


async def test_a_resend_with_other_content_is_a_conflict(chat: Chat) -> None:
    await chat.send(chat.student, "first", "c-1")
    with pytest.raises(Conflict):
        await chat.send(chat.student, "second", "c-1")
    assert [m.content for m in chat.stored()] == ["first"]
    assert len(chat.publisher.messages) == 1


@pytest.mark.parametrize("content", ["", "   ", "\n", "x" * (MAX_LENGTH + 1)])
async def test_blank_or_long_content_is_invalid_before_any_storage(
    chat: Chat, content: str
) -> None:
    commits = chat.accounts.store.commits
    with pytest.raises(InvalidInput):
        await chat.send(chat.student, content)
    # Even an outsider's invalid message is refused for its content, before any lookup.
    with pytest.raises(InvalidInput):
        await chat.send(chat.outsider, content)
    assert chat.stored() == []
    assert chat.publisher.messages == []
    assert chat.accounts.store.commits == commits


async def test_content_of_the_maximum_length_is_accepted(chat: Chat) -> None:
    assert (await chat.send(chat.student, "x" * MAX_LENGTH)).seq == 1


@pytest.mark.parametrize("client_msg_id", ["", "k" * 65, "tab\there"])
async def test_bad_client_msg_ids_are_invalid(chat: Chat, client_msg_id: str) -> None:
    with pytest.raises(InvalidInput):
        await chat.send(chat.student, "hi", client_msg_id)
    assert chat.stored() == []


async def test_a_non_member_is_told_not_found(chat: Chat) -> None:
    with pytest.raises(NotFound):
        await chat.send(chat.outsider, "let me in")
    assert chat.stored() == []
    assert chat.publisher.messages == []


async def test_an_unknown_room_is_not_found(chat: Chat) -> None:
    with pytest.raises(NotFound):
        await chat.post.execute(
            PostMessageCommand(actor_id=chat.student.id, room_id=uuid4(), content="hi")
        )


def limited(chat: Chat) -> Chat:
    """The same room with a send rate of 3 per 10 s."""
    post = PostMessage(
        uow=chat.accounts.uow,
        publisher=chat.publisher,
        clock=chat.accounts.clock,
        ids=chat.accounts.ids,
        max_length=MAX_LENGTH,
        limiter=chat.limiter,
        rate=SMALL_RATE,
    )
    return replace(chat, post=post)


async def test_sends_over_the_rate_are_refused_and_store_nothing(chat: Chat) -> None:
    chat = limited(chat)
    for number in range(SMALL_RATE.limit):
        await chat.send(chat.student, f"m{number}")
    commits = chat.accounts.store.commits

    with pytest.raises(TooManyAttempts) as error:
        await chat.send(chat.student, "one too many")

    assert error.value.retry_after == 8  # 7.5 s, rounded up to whole seconds
    assert "retry in 8 s" in error.value.detail
    assert [m.content for m in chat.stored()] == ["m0", "m1", "m2"]
    assert len(chat.publisher.messages) == SMALL_RATE.limit
    assert chat.accounts.store.commits == commits
    key, limit, window = chat.limiter.calls[-1]
    assert (key, limit, window) == (chat_send_key(chat.student.id, chat.room.id), 3, 10)


async def test_the_send_rate_is_per_sender_and_room(chat: Chat) -> None:
    chat = limited(chat)
    for number in range(SMALL_RATE.limit):
        await chat.send(chat.student, f"m{number}")
    # Another sender in the same room is not held back by this one.
    assert (await chat.send(chat.peer, "mine")).seq == 4
    other_room = await new_room(chat.accounts, chat.owner, await _course_of(chat))
    posted = await chat.post.execute(
        PostMessageCommand(actor_id=chat.student.id, room_id=other_room.id, content="elsewhere")
    )
    assert posted.created


async def test_a_resend_of_a_stored_message_is_not_counted(chat: Chat) -> None:
    chat = limited(chat)
    first = await chat.send(chat.student, "once", "c-1")
    for _ in range(5):
        again = await chat.post.execute(
            PostMessageCommand(
                actor_id=chat.student.id, room_id=chat.room.id, content="once", client_msg_id="c-1"
            )
        )
        assert (again.created, again.message.id) == (False, first.id)
    assert chat.limiter.counted[chat_send_key(chat.student.id, chat.room.id)] == 1
    # Resends stay answered even when the sender is at the limit.
    await chat.send(chat.student, "two")
    await chat.send(chat.student, "three")
    replay = await chat.post.execute(
        PostMessageCommand(
            actor_id=chat.student.id, room_id=chat.room.id, content="once", client_msg_id="c-1"
        )
    )
    assert replay.created is False


async def test_refused_sends_are_not_counted(chat: Chat) -> None:
    with pytest.raises(InvalidInput):
        await chat.send(chat.student, "   ")
    with pytest.raises(NotFound):
        await chat.send(chat.outsider, "let me in")
    assert chat.limiter.calls == []


async def _course_of(chat: Chat) -> Course:
    async with chat.accounts.uow() as uow:
        course = await uow.courses.get(chat.room.course_id)
    assert course is not None
    return course


async def test_a_student_not_assigned_to_a_restricted_room_is_told_not_found(chat: Chat) -> None:
    assert await assign(chat.accounts, chat.owner, chat.room, chat.peer)
    with pytest.raises(NotFound):
        await chat.send(chat.student, "hi")
    with pytest.raises(NotFound):
        await chat.read(chat.student)
    assert (await chat.send(chat.peer, "hi")).seq == 1


async def test_an_inactive_sender_is_not_authenticated(chat: Chat) -> None:
    async with chat.accounts.uow() as uow:
        await uow.users.update(replace(chat.student, is_active=False))
        await uow.commit()
    with pytest.raises(NotAuthenticated):
        await chat.send(chat.student, "hi")
    with pytest.raises(NotAuthenticated):
        await chat.read(chat.student)
    never_stored = replace(chat.student, id=uuid4())
    with pytest.raises(NotAuthenticated):
        await chat.send(never_stored, "hi")
    assert chat.stored() == []
    assert chat.publisher.messages == []


# --- ReadHistory


async def test_history_pages(chat: Chat) -> None:
    for number in range(1, 13):
        await chat.send(chat.student, f"m{number}")
    reader = chat.peer
    assert await chat.read(reader) == list(range(1, 13))
    assert await chat.read(reader, limit=5) == [8, 9, 10, 11, 12]
    assert await chat.read(reader, limit=3, before_seq=10) == [7, 8, 9]
    assert await chat.read(reader, limit=3, after_seq=4) == [5, 6, 7]
    assert await chat.read(reader, after_seq=2, before_seq=6) == [3, 4, 5]
    assert await chat.read(reader, limit=2, after_seq=2, before_seq=10) == [3, 4]
    assert await chat.read(reader, after_seq=12) == []
    assert await chat.read(reader, before_seq=1) == []
    assert await chat.read(reader, limit=200) == list(range(1, 13))


async def test_history_defaults_to_the_newest_50(chat: Chat) -> None:
    for number in range(55):
        await chat.send(chat.student, f"m{number}")
    assert await chat.read(chat.owner) == list(range(6, 56))


async def test_history_carries_sender_names(chat: Chat) -> None:
    await chat.send(chat.student, "hi")
    page = await chat.history.execute(
        ReadHistoryQuery(actor_id=chat.owner.id, room_id=chat.room.id)
    )
    assert [(m.sender_id, m.sender_name, m.content) for m in page] == [
        (chat.student.id, "Sam Student", "hi")
    ]


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": -1},
    ],
)
async def test_history_refuses_bad_paging(chat: Chat, query: dict[str, int]) -> None:
    with pytest.raises(InvalidInput):
        await chat.read(chat.student, **query)


async def test_history_is_not_found_for_outsiders(chat: Chat) -> None:
    await chat.send(chat.student, "private")
    with pytest.raises(NotFound):
        await chat.read(chat.outsider)
    with pytest.raises(NotFound):
        await chat.history.execute(ReadHistoryQuery(actor_id=chat.student.id, room_id=uuid4()))


async def test_a_page_is_read_again_once_the_room_has_a_newer_message(chat: Chat) -> None:
    await chat.send(chat.student, "m1")
    assert await chat.read(chat.peer, limit=2) == [1]
    assert chat.cache.hits == 0
    assert await chat.read(chat.owner, limit=2) == [1]  # any reader: access is checked first
    assert chat.cache.hits == 1
    await chat.send(chat.peer, "m2")
    await chat.send(chat.peer, "m3")
    assert await chat.read(chat.student, limit=2) == [2, 3]
    assert chat.cache.hits == 1
    assert await chat.read(chat.student, limit=2, before_seq=3) == [1, 2]  # its own key
    assert chat.cache.hits == 1


async def test_a_cached_page_is_served_only_after_the_access_check(chat: Chat) -> None:
    await chat.send(chat.student, "private")
    assert await chat.read(chat.peer) == [1]
    with pytest.raises(NotFound):
        await chat.read(chat.outsider)
    async with chat.accounts.uow() as uow:
        await uow.courses.remove_member(chat.room.course_id, chat.peer.id)
        await uow.commit()
    with pytest.raises(NotFound):
        await chat.read(chat.peer)
    assert chat.cache.hits == 0


async def test_a_cached_page_never_hides_a_message_the_reader_could_know_of(chat: Chat) -> None:
    """A page stored by a reader who saw an older last seq (a slow read finishing after a
    newer one) is not served to a reader who has seen a newer message.
    """
    await chat.send(chat.student, "m1")
    assert await chat.read(chat.peer) == [1]
    await chat.send(chat.student, "m2")
    newest = PageKey(chat.room.id, 50, None, None)
    chat.cache.put(newest, last_seq=1, page=chat.cache.pages[newest][1])
    assert await chat.read(chat.peer) == [1, 2]
    assert chat.cache.hits == 0


# --- tickets


class Tickets:
    def __init__(self) -> None:
        self.now = 1000.0
        self.store = FakeTicketStore(lambda: self.now)
        self.revocations = FakeRevocationList()
        self.issue = IssueChatTicket(store=self.store, ttl_seconds=30)
        self.redeem = RedeemChatTicket(store=self.store, revocations=self.revocations)


def principal(accounts: Accounts, session_id: UUID | None = None) -> Principal:
    return Principal(
        user_id=uuid4(),
        session_id=session_id or uuid4(),
        role=Role.STUDENT,
        expires_at=accounts.clock.now() + timedelta(minutes=15),
    )


@pytest.fixture
def tickets() -> Tickets:
    return Tickets()


async def test_a_ticket_redeems_once_to_its_holder(tickets: Tickets, accounts: Accounts) -> None:
    holder = principal(accounts)
    issued = await tickets.issue.execute(holder)
    assert issued.expires_in == 30
    assert len(issued.ticket) >= 32
    redeemed = await tickets.redeem.execute(issued.ticket)
    assert (redeemed.user_id, redeemed.session_id) == (holder.user_id, holder.session_id)
    with pytest.raises(NotAuthenticated):
        await tickets.redeem.execute(issued.ticket)


async def test_tickets_are_unique(tickets: Tickets, accounts: Accounts) -> None:
    holder = principal(accounts)
    issued = {(await tickets.issue.execute(holder)).ticket for _ in range(20)}
    assert len(issued) == 20
    assert len(tickets.store.values) == 20


async def test_a_ticket_expires(tickets: Tickets, accounts: Accounts) -> None:
    early = await tickets.issue.execute(principal(accounts))
    late = await tickets.issue.execute(principal(accounts))
    tickets.now += 29
    await tickets.redeem.execute(early.ticket)
    tickets.now += 1
    with pytest.raises(NotAuthenticated):
        await tickets.redeem.execute(late.ticket)


async def test_a_ticket_of_a_revoked_session_is_refused(
    tickets: Tickets, accounts: Accounts
) -> None:
    holder = principal(accounts)
    issued = await tickets.issue.execute(holder)
    await tickets.revocations.revoke([holder.session_id], accounts.clock.now() + timedelta(hours=1))
    with pytest.raises(NotAuthenticated):
        await tickets.redeem.execute(issued.ticket)


@pytest.mark.parametrize("ticket", ["", "unknown", "x" * 129, "x" * 10_000])
async def test_unknown_tickets_are_refused(tickets: Tickets, ticket: str) -> None:
    with pytest.raises(NotAuthenticated):
        await tickets.redeem.execute(ticket)


async def test_the_store_holds_only_a_digest(tickets: Tickets, accounts: Accounts) -> None:
    holder = principal(accounts)
    issued = await tickets.issue.execute(holder)
    (key,) = tickets.store.values
    assert issued.ticket not in tickets.store.values
    assert issued.ticket not in key
    value, _ = tickets.store.values[key]
    assert issued.ticket not in value
    assert value == f"{holder.user_id}:{holder.session_id}"
