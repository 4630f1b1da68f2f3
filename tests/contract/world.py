"""Builders for the contract suite: entities with fresh ids and increasing timestamps (so
"oldest first" is build order on every backend), and short helpers that write in one
committed unit of work.
"""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from coagent.adapters.system import Uuid7Generator
from coagent.application.ports.chat import NewMessage
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.turns import AgentReply, TurnUsage
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.agents.config import AgentConfig, AgentType, Provider
from coagent.domain.agents.decision import TurnKind
from coagent.domain.agents.proposal import Proposal, ProposalStatus
from coagent.domain.agents.trigger import Trigger, TriggerType
from coagent.domain.agents.turn import AgentTurn, TurnStatus
from coagent.domain.courses.announcement import Announcement
from coagent.domain.courses.course import Course
from coagent.domain.courses.room import AiMode, Room

_ids = Uuid7Generator()
_serial = itertools.count(1)
# Whole milliseconds in the past: every backend stores them exactly, and a lease or an expiry
# computed from `now()` stays comparable with the clock of the database.
_EPOCH = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
LEASE = timedelta(seconds=15)
USAGE = TurnUsage(provider="offline", model="offline", tokens_in=3, tokens_out=2, latency_ms=5)


def new_id() -> UUID:
    return _ids.new_id()


def tick() -> datetime:
    """A new, later instant on each call."""
    return _EPOCH + timedelta(seconds=next(_serial))


def user(**changes: Any) -> User:
    n = next(_serial)
    at = tick()
    values: dict[str, Any] = {
        "id": new_id(),
        "email": f"user{n}@example.test",
        "username": f"user{n}",
        "full_name": None,
        "role": Role.STUDENT,
        "is_active": True,
        "password_hash": "plain:secret",
        "avatar_url": None,
        "created_at": at,
        "updated_at": at,
    }
    values.update(changes)
    return User(**values)


def course(owner_id: UUID | None, **changes: Any) -> Course:
    at = tick()
    values: dict[str, Any] = {
        "id": new_id(),
        "title": "Course",
        "description": None,
        "owner_id": owner_id,
        "created_at": at,
        "updated_at": at,
    }
    values.update(changes)
    return Course(**values)


def room(course_id: UUID, **changes: Any) -> Room:
    at = tick()
    values: dict[str, Any] = {
        "id": new_id(),
        "course_id": course_id,
        "name": "Room",
        "description": None,
        "ai_mode": AiMode.TEACHER_ONLY,
        "ai_frequency": 0.5,
        "is_ai_active": True,
        "is_analytics_active": False,
        "created_at": at,
        "updated_at": at,
    }
    values.update(changes)
    return Room(**values)


def announcement(course_id: UUID, author_id: UUID | None, **changes: Any) -> Announcement:
    at = tick()
    values: dict[str, Any] = {
        "id": new_id(),
        "course_id": course_id,
        "author_id": author_id,
        "title": "Title",
        "content": "Content",
        "created_at": at,
        "updated_at": at,
    }
    values.update(changes)
    return Announcement(**values)


def config(course_id: UUID | None, **changes: Any) -> AgentConfig:
    at = tick()
    values: dict[str, Any] = {
        "id": new_id(),
        "course_id": course_id,
        "type": AgentType.TEACHER,
        "name": f"Prof {next(_serial)}",
        "provider": Provider.OFFLINE,
        "model": None,
        "base_url": None,
        "system_prompt": "p",
        "context_window": 10,
        "trigger": Trigger(type=TriggerType.MENTION),
        "schedule": None,
        "settings": {},
        "is_active": False,
        "created_by": None,
        "created_at": at,
        "updated_at": at,
    }
    values.update(changes)
    return AgentConfig(**values)


def turn(room_id: UUID, config_id: UUID, key: str = "msg:1", **changes: Any) -> AgentTurn:
    values: dict[str, Any] = {
        "id": new_id(),
        "room_id": room_id,
        "agent_type": "teacher",
        "config_id": config_id,
        "config_revision": 1,
        "kind": TurnKind.MENTION,
        "trigger_key": key,
        "reason": "mentioned",
        "caused_by_seq": 1,
        "requested_by": None,
        "status": TurnStatus.QUEUED,
        "created_at": tick(),
    }
    values.update(changes)
    return AgentTurn(**values)


def reply(room_id: UUID, text: str = "hello", agent_type: str = "teacher") -> AgentReply:
    return AgentReply(
        id=new_id(), room_id=room_id, content=text, agent_type=agent_type, created_at=tick()
    )


def proposal(room_id: UUID, turn_id: UUID, *, now: datetime, ttl: float = 600) -> Proposal:
    return Proposal(
        id=new_id(),
        room_id=room_id,
        turn_id=turn_id,
        content="I think so",
        status=ProposalStatus.PENDING,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )


def message(
    room_id: UUID, sender_id: UUID | None, content: str = "hi", **changes: Any
) -> NewMessage:
    values: dict[str, Any] = {
        "id": new_id(),
        "room_id": room_id,
        "content": content,
        "created_at": tick(),
        "sender_id": sender_id,
    }
    values.update(changes)
    return NewMessage(**values)


async def save(uow_factory: UnitOfWorkFactory, *entities: object) -> None:
    """Add users, courses, rooms, announcements and configurations, in that order of
    appearance, in one committed unit of work.
    """
    async with uow_factory() as uow:
        for entity in entities:
            if isinstance(entity, User):
                await uow.users.add(entity)
            elif isinstance(entity, Course):
                await uow.courses.add(entity)
            elif isinstance(entity, Room):
                await uow.rooms.add(entity)
            elif isinstance(entity, Announcement):
                await uow.announcements.add(entity)
            elif isinstance(entity, AgentConfig):
                await uow.agent_configs.add(entity)
            else:
                raise TypeError(f"cannot save {entity!r}")
        await uow.commit()


async def post(uow_factory: UnitOfWorkFactory, msg: NewMessage) -> int:
    async with uow_factory() as uow:
        seq = await uow.messages.append(msg)
        await uow.commit()
    return seq
