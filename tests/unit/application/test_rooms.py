"""The room use cases against the fakes and the real course policy."""

import math
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from coagent.application.courses.assign_to_room import AssignToRoom, AssignToRoomCommand
from coagent.application.courses.change_member import ChangeMember, ChangeMemberCommand
from coagent.application.courses.create_course import CreateCourse, CreateCourseCommand
from coagent.application.courses.create_room import CreateRoom, CreateRoomCommand
from coagent.application.courses.delete_course import DeleteCourse, DeleteCourseCommand
from coagent.application.courses.delete_room import DeleteRoom, DeleteRoomCommand
from coagent.application.courses.get_room import GetRoom, GetRoomCommand
from coagent.application.courses.list_rooms import ListRooms, ListRoomsCommand
from coagent.application.courses.update_room import UpdateRoom, UpdateRoomCommand
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import AiMode, Room
from coagent.domain.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio

STAFF = ["ta", "co_teacher", "owner", "admin"]


@dataclass
class Cast:
    """One course created by `owner`, with a member of every course role (two students), an
    outsider (a global teacher who is not a member) and an admin who is not a member either.
    """

    course: Course
    owner: User
    co_teacher: User
    ta: User
    student: User
    peer: User
    outsider: User
    admin: User


async def enroll(accounts: Accounts, course_id: UUID, user: User, role: CourseRole) -> None:
    async with accounts.uow() as uow:
        assert await uow.courses.add_member(course_id, user.id, role)
        await uow.commit()


async def new_course(accounts: Accounts, owner: User, title: str = "Course") -> Course:
    create = CreateCourse(uow=accounts.uow, clock=accounts.clock, ids=accounts.ids)
    return await create.execute(CreateCourseCommand(actor_id=owner.id, title=title))


async def new_room(accounts: Accounts, actor: User, course: Course, **fields: Any) -> Room:
    fields.setdefault("name", "Debate")
    create = CreateRoom(uow=accounts.uow, clock=accounts.clock, ids=accounts.ids)
    return await create.execute(CreateRoomCommand(actor_id=actor.id, course_id=course.id, **fields))


async def assign(accounts: Accounts, actor: User, room: Room, user: User) -> bool:
    assignment = await AssignToRoom(uow=accounts.uow).execute(
        AssignToRoomCommand(actor_id=actor.id, room_id=room.id, user_id=user.id)
    )
    return assignment.created


async def visible_ids(accounts: Accounts, actor: User, course: Course) -> list[UUID]:
    rooms = await ListRooms(uow=accounts.uow).execute(
        ListRoomsCommand(actor_id=actor.id, course_id=course.id)
    )
    return [room.id for room in rooms]


async def get_room(accounts: Accounts, actor: User, room: Room) -> Room:
    return await GetRoom(uow=accounts.uow).execute(
        GetRoomCommand(actor_id=actor.id, room_id=room.id)
    )


def assigned_to(accounts: Accounts, room: Room) -> set[UUID]:
    return {user_id for room_id, user_id in accounts.store.room_assignments if room_id == room.id}


@pytest.fixture
async def cast(accounts: Accounts) -> Cast:
    owner = await accounts.add_user(role=Role.TEACHER, full_name="Olga Owner")
    co_teacher = await accounts.add_user(role=Role.TEACHER, full_name="Carl Co")
    ta = await accounts.add_user(role=Role.STUDENT, full_name="Tia Ta")
    student = await accounts.add_user(
        role=Role.STUDENT, full_name="Sam Student", email="sam@example.com"
    )
    peer = await accounts.add_user(role=Role.STUDENT, full_name="Pia Peer")
    outsider = await accounts.add_user(role=Role.TEACHER, full_name="Otto Outsider")
    admin = await accounts.add_user(role=Role.ADMIN, full_name="Ada Admin")
    course = await new_course(accounts, owner, "Algebra")
    await enroll(accounts, course.id, co_teacher, CourseRole.TEACHER)
    await enroll(accounts, course.id, ta, CourseRole.TA)
    await enroll(accounts, course.id, student, CourseRole.STUDENT)
    await enroll(accounts, course.id, peer, CourseRole.STUDENT)
    return Cast(
        course=course,
        owner=owner,
        co_teacher=co_teacher,
        ta=ta,
        student=student,
        peer=peer,
        outsider=outsider,
        admin=admin,
    )


@pytest.fixture
async def room(accounts: Accounts, cast: Cast) -> Room:
    """An open room of the course (nobody assigned)."""
    return await new_room(accounts, cast.owner, cast.course, description="Argue well")


@pytest.fixture
async def restricted(accounts: Accounts, cast: Cast) -> Room:
    """A room of the course assigned to `student` only."""
    created = await new_room(accounts, cast.owner, cast.course, name="Private")
    assert await assign(accounts, cast.ta, created, cast.student)
    return replace(created, is_restricted=True)


# --- CreateRoom ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", STAFF)
async def test_staff_and_admins_create_rooms_with_defaults(
    accounts: Accounts, cast: Cast, who: str
) -> None:
    actor: User = getattr(cast, who)
    commits = accounts.store.commits
    later = accounts.clock.advance(minutes=2)

    created = await new_room(accounts, actor, cast.course, name="  Debate  ")

    assert created.course_id == cast.course.id
    assert (created.name, created.description) == ("Debate", None)
    assert (created.ai_mode, created.ai_frequency) == (AiMode.TEACHER_ONLY, 0.5)
    assert (created.is_ai_active, created.is_analytics_active) == (True, False)
    assert created.is_restricted is False
    assert created.created_at == created.updated_at == later
    assert accounts.store.rooms == {created.id: created}
    assert accounts.store.commits == commits + 1


async def test_a_room_is_created_with_the_given_settings(accounts: Accounts, cast: Cast) -> None:
    created = await new_room(
        accounts,
        cast.ta,
        cast.course,
        description="Only for the brave",
        ai_mode=AiMode.BOTH,
        ai_frequency=1.0,
        is_ai_active=False,
        is_analytics_active=True,
    )
    silent = await new_room(accounts, cast.ta, cast.course, description="", ai_frequency=0.0)

    assert (created.description, created.ai_mode, created.ai_frequency) == (
        "Only for the brave",
        AiMode.BOTH,
        1.0,
    )
    assert (created.is_ai_active, created.is_analytics_active) == (False, True)
    assert (silent.description, silent.ai_frequency) == (None, 0.0)
    assert accounts.store.rooms == {created.id: created, silent.id: silent}


@pytest.mark.parametrize(
    ("who", "error"), [("student", Forbidden), ("outsider", NotFound)], ids=str
)
async def test_others_may_not_create_rooms(
    accounts: Accounts, cast: Cast, who: str, error: type[Exception]
) -> None:
    actor: User = getattr(cast, who)

    with pytest.raises(error):
        await new_room(accounts, actor, cast.course)

    assert accounts.store.rooms == {}


async def test_a_room_in_a_missing_course_is_not_found(accounts: Accounts, cast: Cast) -> None:
    missing = replace(cast.course, id=accounts.ids.new_id())

    with pytest.raises(NotFound, match="Course not found"):
        await new_room(accounts, cast.admin, missing)

    assert accounts.store.rooms == {}


async def test_a_deactivated_ta_creates_nothing(accounts: Accounts, cast: Cast) -> None:
    async with accounts.uow() as uow:
        await uow.users.update(replace(cast.ta, is_active=False))
        await uow.commit()

    with pytest.raises(NotAuthenticated):
        await new_room(accounts, cast.ta, cast.course)

    assert accounts.store.rooms == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "\t\n"},
        {"ai_frequency": -0.01},
        {"ai_frequency": 1.01},
        {"ai_frequency": math.nan},
        {"ai_frequency": math.inf},
    ],
    ids=str,
)
async def test_invalid_rooms_are_refused(
    accounts: Accounts, cast: Cast, fields: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInput):
        await new_room(accounts, cast.owner, cast.course, **fields)

    assert accounts.store.rooms == {}


# --- ListRooms ----------------------------------------------------------------------------------


@dataclass
class Layout:
    """Four rooms, listed oldest first as `order`: two open, one per student."""

    open_early: Room
    students: Room
    peers: Room
    open_late: Room

    @property
    def order(self) -> list[UUID]:
        return [self.open_early.id, self.students.id, self.peers.id, self.open_late.id]


@pytest.fixture
async def layout(accounts: Accounts, cast: Cast) -> Layout:
    start = accounts.clock.now()
    # Created out of order: the list follows created_at, then id (same time, older id first).
    accounts.clock.set(start + timedelta(minutes=3))
    peers = await new_room(accounts, cast.ta, cast.course, name="Peer's")
    open_late = await new_room(accounts, cast.ta, cast.course, name="Open late")
    accounts.clock.set(start + timedelta(minutes=1))
    open_early = await new_room(accounts, cast.ta, cast.course, name="Open early")
    accounts.clock.set(start + timedelta(minutes=2))
    students = await new_room(accounts, cast.ta, cast.course, name="Student's")
    assert await assign(accounts, cast.ta, students, cast.student)
    assert await assign(accounts, cast.ta, peers, cast.peer)
    return Layout(open_early=open_early, students=students, peers=peers, open_late=open_late)


@pytest.mark.parametrize("who", STAFF)
async def test_staff_and_admins_list_every_room_oldest_first(
    accounts: Accounts, cast: Cast, layout: Layout, who: str
) -> None:
    actor: User = getattr(cast, who)
    elsewhere = await new_course(accounts, cast.owner, "Elsewhere")
    await new_room(accounts, cast.owner, elsewhere, name="Not listed")

    rooms = await ListRooms(uow=accounts.uow).execute(
        ListRoomsCommand(actor_id=actor.id, course_id=cast.course.id)
    )

    assert [room.id for room in rooms] == layout.order
    assert [room.is_restricted for room in rooms] == [False, True, True, False]


async def test_students_list_open_rooms_and_their_own(
    accounts: Accounts, cast: Cast, layout: Layout
) -> None:
    mine = await visible_ids(accounts, cast.student, cast.course)
    theirs = await visible_ids(accounts, cast.peer, cast.course)

    assert mine == [layout.open_early.id, layout.students.id, layout.open_late.id]
    assert theirs == [layout.open_early.id, layout.peers.id, layout.open_late.id]


async def test_a_course_without_rooms_lists_none(accounts: Accounts, cast: Cast) -> None:
    assert await visible_ids(accounts, cast.student, cast.course) == []


@pytest.mark.parametrize("course", ["theirs", "missing"])
async def test_outsiders_list_no_rooms(
    accounts: Accounts, cast: Cast, room: Room, course: str
) -> None:
    target = cast.course if course == "theirs" else replace(cast.course, id=accounts.ids.new_id())

    with pytest.raises(NotFound, match="Course not found"):
        await visible_ids(accounts, cast.outsider, target)


# --- GetRoom ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["student", "peer", *STAFF])
async def test_members_and_admins_get_an_open_room(
    accounts: Accounts, cast: Cast, room: Room, who: str
) -> None:
    actor: User = getattr(cast, who)

    assert await get_room(accounts, actor, room) == room


@pytest.mark.parametrize("who", ["student", *STAFF])
async def test_assignees_and_staff_get_a_restricted_room(
    accounts: Accounts, cast: Cast, restricted: Room, who: str
) -> None:
    actor: User = getattr(cast, who)

    got = await get_room(accounts, actor, restricted)

    assert got == restricted
    assert got.is_restricted


async def test_a_restricted_room_does_not_exist_for_other_students(
    accounts: Accounts, cast: Cast, restricted: Room
) -> None:
    with pytest.raises(NotFound) as hidden:
        await get_room(accounts, cast.peer, restricted)
    with pytest.raises(NotFound) as missing:
        await get_room(accounts, cast.peer, replace(restricted, id=accounts.ids.new_id()))

    # Nothing tells a hidden room from a missing one.
    assert str(hidden.value) == str(missing.value) == "Room not found"


async def test_to_an_outsider_a_room_does_not_exist(
    accounts: Accounts, cast: Cast, room: Room
) -> None:
    with pytest.raises(NotFound, match="Room not found"):
        await get_room(accounts, cast.outsider, room)


# --- UpdateRoom ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", STAFF)
async def test_staff_and_admins_update_every_setting(
    accounts: Accounts, cast: Cast, room: Room, who: str
) -> None:
    actor: User = getattr(cast, who)
    later = accounts.clock.advance(minutes=3)

    updated = await UpdateRoom(uow=accounts.uow, clock=accounts.clock).execute(
        UpdateRoomCommand(
            actor_id=actor.id,
            room_id=room.id,
            name="  Forum ",
            description="Calm down",
            ai_mode=AiMode.OFF,
            ai_frequency=0.0,
            is_ai_active=False,
            is_analytics_active=True,
        )
    )

    assert updated == replace(
        room,
        name="Forum",
        description="Calm down",
        ai_mode=AiMode.OFF,
        ai_frequency=0.0,
        is_ai_active=False,
        is_analytics_active=True,
        updated_at=later,
    )
    assert accounts.store.rooms[room.id] == updated


async def test_an_update_changes_only_the_given_fields(
    accounts: Accounts, cast: Cast, room: Room
) -> None:
    update = UpdateRoom(uow=accounts.uow, clock=accounts.clock)
    command = UpdateRoomCommand(actor_id=cast.ta.id, room_id=room.id)
    later = accounts.clock.advance(minutes=1)

    mode = await update.execute(replace(command, ai_mode=AiMode.BOTH))
    quiet = await update.execute(replace(command, is_ai_active=False))
    kept = await update.execute(replace(command, name="Renamed"))
    cleared = await update.execute(replace(command, description=""))
    described = await update.execute(replace(command, description="Again"))
    nulled = await update.execute(replace(command, description=None))

    assert mode == replace(room, ai_mode=AiMode.BOTH, updated_at=later)
    assert quiet == replace(mode, is_ai_active=False)
    assert kept == replace(quiet, name="Renamed")
    assert kept.description == "Argue well"  # KEEP leaves it
    assert cleared == replace(kept, description=None)  # "" clears it
    assert described.description == "Again"
    assert nulled == replace(described, description=None)  # None clears it too
    assert accounts.store.rooms[room.id] == nulled


async def test_updating_a_restricted_room_keeps_it_restricted(
    accounts: Accounts, cast: Cast, restricted: Room
) -> None:
    updated = await UpdateRoom(uow=accounts.uow, clock=accounts.clock).execute(
        UpdateRoomCommand(actor_id=cast.ta.id, room_id=restricted.id, ai_frequency=0.25)
    )

    assert (updated.ai_frequency, updated.is_restricted) == (0.25, True)
    assert assigned_to(accounts, restricted) == {cast.student.id}


@pytest.mark.parametrize(
    "fields",
    [{"name": ""}, {"name": "  "}, {"ai_frequency": -0.5}, {"ai_frequency": 1.5}],
    ids=str,
)
async def test_an_invalid_update_writes_nothing(
    accounts: Accounts, cast: Cast, room: Room, fields: dict[str, Any]
) -> None:
    accounts.clock.advance(minutes=1)
    commits = accounts.store.commits

    with pytest.raises(InvalidInput):
        await UpdateRoom(uow=accounts.uow, clock=accounts.clock).execute(
            UpdateRoomCommand(
                actor_id=cast.owner.id, room_id=room.id, ai_mode=AiMode.BOTH, **fields
            )
        )

    assert accounts.store.rooms[room.id] == room
    assert accounts.store.commits == commits


@pytest.mark.parametrize(
    ("who", "target", "error"),
    [
        ("student", "room", Forbidden),
        ("student", "restricted", Forbidden),  # assigned: sees it, may not change it
        ("peer", "restricted", NotFound),  # not assigned: it does not exist for them
        ("outsider", "room", NotFound),
    ],
)
async def test_others_may_not_update_a_room(
    accounts: Accounts,
    cast: Cast,
    room: Room,
    restricted: Room,
    who: str,
    target: str,
    error: type[Exception],
) -> None:
    actor: User = getattr(cast, who)
    victim = room if target == "room" else restricted
    before = dict(accounts.store.rooms)

    with pytest.raises(error):
        await UpdateRoom(uow=accounts.uow, clock=accounts.clock).execute(
            UpdateRoomCommand(actor_id=actor.id, room_id=victim.id, name="Hacked")
        )

    assert accounts.store.rooms == before


async def test_updating_a_missing_room_is_not_found(accounts: Accounts, cast: Cast) -> None:
    with pytest.raises(NotFound, match="Room not found"):
        await UpdateRoom(uow=accounts.uow, clock=accounts.clock).execute(
            UpdateRoomCommand(actor_id=cast.admin.id, room_id=accounts.ids.new_id(), name="X")
        )

    assert accounts.store.rooms == {}


# --- DeleteRoom ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", STAFF)
async def test_staff_and_admins_delete_a_room_with_its_assignments(
    accounts: Accounts, cast: Cast, room: Room, restricted: Room, who: str
) -> None:
    actor: User = getattr(cast, who)
    events = len(accounts.store.audit)

    deleted = await DeleteRoom(uow=accounts.uow).execute(
        DeleteRoomCommand(actor_id=actor.id, room_id=restricted.id)
    )

    assert deleted == restricted
    assert set(accounts.store.rooms) == {room.id}
    assert accounts.store.room_assignments == {}
    [event] = accounts.store.audit[events:]
    assert (event.actor_id, event.action, event.target_type, event.target_id) == (
        actor.id,
        "room.deleted",
        "room",
        str(restricted.id),
    )
    assert event.details == {"course_id": str(cast.course.id), "name": "Private"}


@pytest.mark.parametrize(
    ("who", "target", "error"),
    [
        ("student", "room", Forbidden),
        ("student", "restricted", Forbidden),
        ("peer", "restricted", NotFound),
        ("outsider", "room", NotFound),
    ],
)
async def test_others_may_not_delete_a_room(
    accounts: Accounts,
    cast: Cast,
    room: Room,
    restricted: Room,
    who: str,
    target: str,
    error: type[Exception],
) -> None:
    actor: User = getattr(cast, who)
    victim = room if target == "room" else restricted

    with pytest.raises(error):
        await DeleteRoom(uow=accounts.uow).execute(
            DeleteRoomCommand(actor_id=actor.id, room_id=victim.id)
        )

    assert set(accounts.store.rooms) == {room.id, restricted.id}
    assert assigned_to(accounts, restricted) == {cast.student.id}
    assert "room.deleted" not in accounts.store.actions()


async def test_deleting_a_missing_room_is_not_found(accounts: Accounts, cast: Cast) -> None:
    with pytest.raises(NotFound, match="Room not found"):
        await DeleteRoom(uow=accounts.uow).execute(
            DeleteRoomCommand(actor_id=cast.admin.id, room_id=accounts.ids.new_id())
        )

    assert "room.deleted" not in accounts.store.actions()


# --- AssignToRoom -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", STAFF)
async def test_assigning_restricts_the_room_to_its_assignees(
    accounts: Accounts, cast: Cast, room: Room, who: str
) -> None:
    actor: User = getattr(cast, who)
    other = await new_room(accounts, cast.owner, cast.course, name="Other")

    assignment = await AssignToRoom(uow=accounts.uow).execute(
        AssignToRoomCommand(actor_id=actor.id, room_id=room.id, user_id=cast.student.id)
    )

    assert (assignment.user, assignment.created) == (cast.student, True)
    assert assigned_to(accounts, room) == {cast.student.id}
    assert (await get_room(accounts, cast.student, room)).is_restricted
    assert await visible_ids(accounts, cast.student, cast.course) == [room.id, other.id]
    assert await visible_ids(accounts, cast.peer, cast.course) == [other.id]
    with pytest.raises(NotFound):
        await get_room(accounts, cast.peer, room)
    # Staff still see it, whether assigned or not.
    assert await visible_ids(accounts, cast.ta, cast.course) == [room.id, other.id]


async def test_assigning_by_email(accounts: Accounts, cast: Cast, room: Room) -> None:
    assignment = await AssignToRoom(uow=accounts.uow).execute(
        AssignToRoomCommand(actor_id=cast.ta.id, room_id=room.id, user_email="  Sam@Example.COM ")
    )

    assert (assignment.user.id, assignment.created) == (cast.student.id, True)
    assert assigned_to(accounts, room) == {cast.student.id}


async def test_assigning_twice_changes_nothing_and_says_so(
    accounts: Accounts, cast: Cast, room: Room
) -> None:
    first = await assign(accounts, cast.ta, room, cast.student)
    again = await assign(accounts, cast.owner, room, cast.student)
    peer = await assign(accounts, cast.owner, room, cast.peer)

    assert (first, again, peer) == (True, False, True)
    assert assigned_to(accounts, room) == {cast.student.id, cast.peer.id}
    assert await visible_ids(accounts, cast.peer, cast.course) == [room.id]


async def test_assigning_without_naming_anyone_is_invalid(
    accounts: Accounts, cast: Cast, room: Room
) -> None:
    with pytest.raises(InvalidInput, match="Give user_id or user_email"):
        await AssignToRoom(uow=accounts.uow).execute(
            AssignToRoomCommand(actor_id=cast.owner.id, room_id=room.id)
        )

    assert accounts.store.room_assignments == {}


async def test_assigning_by_id_and_email_of_the_same_member(
    accounts: Accounts, cast: Cast, room: Room
) -> None:
    assignment = await AssignToRoom(uow=accounts.uow).execute(
        AssignToRoomCommand(
            actor_id=cast.ta.id,
            room_id=room.id,
            user_id=cast.student.id,
            user_email="SAM@example.com",
        )
    )

    assert (assignment.user.id, assignment.created) == (cast.student.id, True)
    assert assigned_to(accounts, room) == {cast.student.id}


async def test_assigning_by_id_and_email_of_different_users_is_invalid(
    accounts: Accounts, cast: Cast, room: Room
) -> None:
    with pytest.raises(InvalidInput, match="name different users"):
        await AssignToRoom(uow=accounts.uow).execute(
            AssignToRoomCommand(
                actor_id=cast.owner.id,
                room_id=room.id,
                user_id=cast.peer.id,
                user_email="sam@example.com",
            )
        )

    assert accounts.store.room_assignments == {}


async def test_assigning_by_a_malformed_email_is_invalid(
    accounts: Accounts, cast: Cast, room: Room
) -> None:
    with pytest.raises(InvalidInput):
        await AssignToRoom(uow=accounts.uow).execute(
            AssignToRoomCommand(actor_id=cast.owner.id, room_id=room.id, user_email="not-an-email")
        )

    assert accounts.store.room_assignments == {}


@pytest.mark.parametrize("lookup", ["non-member-id", "non-member-email", "unknown-id"])
async def test_only_members_of_the_course_are_assigned(
    accounts: Accounts, cast: Cast, room: Room, lookup: str
) -> None:
    await accounts.add_user(email="stranger@example.com")
    who = {
        "non-member-id": {"user_id": cast.outsider.id},
        "non-member-email": {"user_email": "stranger@example.com"},
        "unknown-id": {"user_id": accounts.ids.new_id()},
    }[lookup]

    with pytest.raises(NotFound, match="not a member"):
        await AssignToRoom(uow=accounts.uow).execute(
            AssignToRoomCommand(actor_id=cast.owner.id, room_id=room.id, **who)  # type: ignore[arg-type]
        )

    assert accounts.store.room_assignments == {}


@pytest.mark.parametrize("lookup", ["id", "email"])
async def test_an_inactive_member_is_not_assigned(
    accounts: Accounts, cast: Cast, room: Room, lookup: str
) -> None:
    async with accounts.uow() as uow:
        await uow.users.update(replace(cast.student, is_active=False))
        await uow.commit()
    who = {"id": {"user_id": cast.student.id}, "email": {"user_email": "sam@example.com"}}[lookup]

    with pytest.raises(NotFound, match="not a member"):
        await AssignToRoom(uow=accounts.uow).execute(
            AssignToRoomCommand(actor_id=cast.owner.id, room_id=room.id, **who)  # type: ignore[arg-type]
        )

    assert accounts.store.room_assignments == {}
    assert accounts.store.memberships[(cast.course.id, cast.student.id)] is CourseRole.STUDENT


@pytest.mark.parametrize(
    ("who", "target", "error"),
    [
        ("student", "room", Forbidden),
        ("student", "restricted", Forbidden),
        ("peer", "restricted", NotFound),
        ("outsider", "room", NotFound),
    ],
)
async def test_others_may_not_assign(
    accounts: Accounts,
    cast: Cast,
    room: Room,
    restricted: Room,
    who: str,
    target: str,
    error: type[Exception],
) -> None:
    actor: User = getattr(cast, who)
    victim = room if target == "room" else restricted

    with pytest.raises(error):
        await AssignToRoom(uow=accounts.uow).execute(
            AssignToRoomCommand(actor_id=actor.id, room_id=victim.id, user_id=actor.id)
        )

    assert accounts.store.room_assignments == {(restricted.id, cast.student.id): True}


async def test_a_room_goes_with_its_course(
    accounts: Accounts, cast: Cast, room: Room, restricted: Room
) -> None:
    await DeleteCourse(uow=accounts.uow).execute(
        DeleteCourseCommand(actor_id=cast.owner.id, course_id=cast.course.id)
    )

    assert (accounts.store.rooms, accounts.store.room_assignments) == ({}, {})
    with pytest.raises(NotFound, match="Room not found"):
        await get_room(accounts, cast.admin, room)


async def test_removing_a_member_removes_their_room_assignments(
    accounts: Accounts, cast: Cast, room: Room, restricted: Room
) -> None:
    other_course = await new_course(accounts, cast.owner, "Other")
    await enroll(accounts, other_course.id, cast.student, CourseRole.STUDENT)
    elsewhere = await new_room(accounts, cast.owner, other_course, name="Elsewhere")
    assert await assign(accounts, cast.owner, elsewhere, cast.student)
    assert await assign(accounts, cast.owner, room, cast.student)
    assert await assign(accounts, cast.owner, room, cast.peer)

    await ChangeMember(uow=accounts.uow).execute(
        ChangeMemberCommand(actor_id=cast.ta.id, course_id=cast.course.id, user_id=cast.student.id)
    )

    # Their assignments in this course are gone, those elsewhere stay.
    assert assigned_to(accounts, restricted) == set()
    assert assigned_to(accounts, room) == {cast.peer.id}
    assert assigned_to(accounts, elsewhere) == {cast.student.id}
    # They were the only assignee of `restricted`: it is open to the whole course again.
    assert not (await get_room(accounts, cast.peer, restricted)).is_restricted
    assert await visible_ids(accounts, cast.peer, cast.course) == [room.id, restricted.id]

    # Re-enrolling does not bring the access back.
    await enroll(accounts, cast.course.id, cast.student, CourseRole.STUDENT)
    assert assigned_to(accounts, room) == {cast.peer.id}
    assert await visible_ids(accounts, cast.student, cast.course) == [restricted.id]
    with pytest.raises(NotFound):
        await get_room(accounts, cast.student, room)
