"""A small course whose figures are computed by hand (see `EXPECTED`), for the store tests
and the API tests.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from coagent.application.ports.chat import NewMessage
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.accounts.user import User
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import AiMode, Room
from tests.integration.conftest import UserFactory, new_id

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
TEACHER_NAME = "Socrates"

# (seconds after T0, speaker, text); speaker "teacher"/"student" is that agent.
MAIN_CHAT = (
    (0, "ana", "Hello  everyone,\nlet's start"),
    (30, "ben", "@Teacher what is virtue?"),
    (60, "teacher", "Virtue is excellence."),
    (100, "ben", "ok"),
    (300, "ana", "I disagree with @socrates here"),
    (320, "cy", "老師, why?"),
    (330, "ana", "Because"),
    (400, "student", "Interesting point"),
    (460, "cy", "Teacher?    no   at sign"),
)


def expected() -> dict[str, dict[str, object]]:
    """Worked out from MAIN_CHAT by hand.

    words: ana 4 ("Hello everyone, let's start") + 5 + 1 = 10; ben 4 + 1 = 5;
    cy 2 ("老師," "why?") + 4 (spaces collapse) = 6.
    replies (previous message another person's, at most 120 s before): ben's 30 s after
    ana (1); ana's "Because" 10 s after cy (1; her 300 s message came 200 s after ben: no);
    cy's 20 s after ana (1; his last follows an agent: no).
    teacher mentions: ben "@Teacher", ana "@socrates" (the agent's name), cy "老師".
    share: 7 human messages: ana 3/7, ben 2/7, cy 2/7.
    """
    at = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    return {
        "Ana Lima": {
            "messages": 3,
            "words": 10,
            "share": 0.4286,
            "first_activity": at(0),
            "last_activity": at(330),
            "replies": 1,
            "teacher_mentions": 1,
        },
        "Ben Ode": {
            "messages": 2,
            "words": 5,
            "share": 0.2857,
            "first_activity": at(30),
            "last_activity": at(100),
            "replies": 1,
            "teacher_mentions": 1,
        },
        "cy": {
            "messages": 2,
            "words": 6,
            "share": 0.2857,
            "first_activity": at(320),
            "last_activity": at(460),
            "replies": 1,
            "teacher_mentions": 1,
        },
    }


# Room: 9 messages, 7 by people, 3 people, agents teacher 1 and student 1; the gaps
# 30 30 40 200 20 10 70 60 sorted are 10 20 30 30 40 60 70 200: median (30 + 40) / 2 = 35.
EXPECTED_ROOM = {
    "messages": 9,
    "human_messages": 7,
    "humans_active": 3,
    "agent_messages": {"teacher": 1, "student": 1},
    "median_gap_seconds": 35.0,
}


@dataclass
class Fixture:
    course: Course
    main: Room
    quiet: Room  # analytics on, no messages
    off: Room  # analytics off
    people: dict[str, User]


def room(course_id: UUID, name: str, *, analytics: bool, created: datetime) -> Room:
    return Room(
        id=new_id(),
        course_id=course_id,
        name=name,
        description=None,
        ai_mode=AiMode.TEACHER_ONLY,
        ai_frequency=0.5,
        is_ai_active=True,
        is_analytics_active=analytics,
        created_at=created,
        updated_at=created,
    )


async def build(uow_factory: UnitOfWorkFactory, owner: User | None = None) -> Fixture:
    people = {
        "ana": UserFactory.build(full_name="Ana Lima"),
        "ben": UserFactory.build(full_name="Ben Ode"),
        "cy": UserFactory.build(full_name=None, username="cy"),
    }
    owner = owner or UserFactory.build(full_name="Owner")
    course = Course(
        id=new_id(),
        title="Ethics",
        description=None,
        owner_id=owner.id,
        created_at=T0,
        updated_at=T0,
    )
    main = room(course.id, "Main", analytics=True, created=T0)
    quiet = room(course.id, "Quiet", analytics=True, created=T0 + timedelta(seconds=1))
    off = room(course.id, "Off", analytics=False, created=T0 + timedelta(seconds=2))
    async with uow_factory() as uow:
        if await uow.users.get(owner.id) is None:
            await uow.users.add(owner)
        for person in people.values():
            await uow.users.add(person)
        await uow.courses.add(course)
        for person in people.values():
            await uow.courses.add_member(course.id, person.id, CourseRole.STUDENT)
        for each in (main, quiet, off):
            await uow.rooms.add(each)
        for seconds, speaker, text in MAIN_CHAT:
            agent = speaker if speaker in {"teacher", "student"} else None
            await uow.messages.append(
                NewMessage(
                    id=new_id(),
                    room_id=main.id,
                    content=text,
                    created_at=T0 + timedelta(seconds=seconds),
                    sender_id=None if agent else people[speaker].id,
                    agent_type=agent,
                    client_msg_id=None,
                )
            )
        # The room with analytics off has chat too: it must not count.
        await uow.messages.append(
            NewMessage(
                id=new_id(),
                room_id=off.id,
                content="not analysed",
                created_at=T0,
                sender_id=people["ana"].id,
                agent_type=None,
                client_msg_id=None,
            )
        )
        await uow.commit()
    return Fixture(course=course, main=main, quiet=quiet, off=off, people=people)
