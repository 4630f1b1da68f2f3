"""SeedDemo: a course a newcomer can open at once."""

import secrets
from dataclasses import dataclass

from coagent.application.accounts.create_user import AccountFactory, NewAccount
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.accounts.roles import Role
from coagent.domain.agents.config import AgentConfig, AgentType, Provider
from coagent.domain.agents.trigger import Trigger, TriggerType
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import AiMode, Room

DEMO_KEY = "demo.seeded"
# The demo's agents run on the offline provider: no network, no key. The README shows how to
# switch them to OpenAI, Gemini or a local OpenAI-compatible server.
DEMO_AGENTS = (
    (
        AgentType.TEACHER,
        "Demo teacher agent",
        "You are the teacher of a university ethics seminar. Facilitate: ask one open "
        "question at a time, summarise positions fairly, and correct factual errors kindly.",
        Trigger(type=TriggerType.MESSAGE_COUNT, value=3),
    ),
    (
        AgentType.STUDENT,
        "Demo peer agent",
        "You are a curious fellow student. Offer a concrete example or a counter-argument "
        "in two or three sentences; never lecture.",
        Trigger(type=TriggerType.SILENCE, value=120),
    ),
)
DEMO_ACCOUNTS = (
    ("teacher@demo.coagent", "demo-teacher", "Demo Teacher", Role.TEACHER, CourseRole.TEACHER),
    ("alice@demo.coagent", "demo-alice", "Alice (demo student)", Role.STUDENT, CourseRole.STUDENT),
    ("bob@demo.coagent", "demo-bob", "Bob (demo student)", Role.STUDENT, CourseRole.STUDENT),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoAccount:
    email: str
    username: str
    password: str
    role: Role


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoSeed:
    accounts: tuple[DemoAccount, ...]
    course: Course
    room: Room
    agents: tuple[AgentConfig, ...] = ()


class SeedDemo:
    """The server on the first embedded start, or an operator through the CLI. Runs its
    effect once in the life of the database (a one-time marker in the same transaction):
    a teacher and two students with generated passwords, a course they share, and a room
    where both the teacher agent and the peer agent may speak, with one active configuration
    each on the offline provider. Returns None when already done.
    """

    def __init__(
        self, *, uow: UnitOfWorkFactory, accounts: AccountFactory, clock: Clock, ids: IdGenerator
    ) -> None:
        self._uow = uow
        self._accounts = accounts
        self._clock = clock
        self._ids = ids

    async def execute(self) -> DemoSeed | None:
        async with self._uow() as uow:
            if not await uow.system.claim(DEMO_KEY):
                return None
            created = []
            for email, username, name, role, _ in DEMO_ACCOUNTS:
                password = secrets.token_urlsafe(12)
                user = await self._accounts.add(
                    uow,
                    NewAccount(
                        email=email,
                        username=username,
                        full_name=name,
                        password=password,
                        role=role,
                    ),
                    actor_id=None,
                    via="demo",
                )
                created.append((user, password))
            teacher = created[0][0]
            now = self._clock.now()
            course = Course(
                id=self._ids.new_id(),
                title="Demo: Ethics of AI",
                description="A demo course with one discussion room. Log in as the demo teacher "
                "or a demo student to see it.",
                owner_id=teacher.id,
                created_at=now,
                updated_at=now,
                owner_name=teacher.public_name,
            )
            await uow.courses.add(course)
            for (user, _), (*_, course_role) in zip(created, DEMO_ACCOUNTS, strict=True):
                await uow.courses.add_member(course.id, user.id, course_role)
            room = Room(
                id=self._ids.new_id(),
                course_id=course.id,
                name="Debate: should AI grade essays?",
                description="Humans and agents in one conversation.",
                ai_mode=AiMode.BOTH,
                ai_frequency=0.5,
                is_ai_active=True,
                is_analytics_active=True,
                created_at=now,
                updated_at=now,
            )
            await uow.rooms.add(room)
            agents = tuple(
                AgentConfig(
                    id=self._ids.new_id(),
                    course_id=course.id,
                    type=agent_type,
                    name=name,
                    provider=Provider.OFFLINE,
                    model=None,
                    base_url=None,
                    system_prompt=prompt,
                    context_window=20,
                    trigger=trigger,
                    schedule=None,
                    settings={},
                    is_active=True,
                    created_by=teacher.id,
                    created_at=now,
                    updated_at=now,
                )
                for agent_type, name, prompt, trigger in DEMO_AGENTS
            )
            for agent in agents:
                await uow.agent_configs.add(agent)
            await uow.commit()
        return DemoSeed(
            accounts=tuple(
                DemoAccount(
                    email=user.email,
                    username=user.username or "",
                    password=password,
                    role=user.role,
                )
                for user, password in created
            ),
            course=course,
            room=room,
            agents=agents,
        )
