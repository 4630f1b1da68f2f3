"""The course use cases against the fakes and the real course policy."""

from dataclasses import dataclass, replace
from uuid import UUID

import pytest

from coagent.application.courses.change_member import ChangeMember, ChangeMemberCommand
from coagent.application.courses.create_course import CreateCourse, CreateCourseCommand
from coagent.application.courses.delete_course import DeleteCourse, DeleteCourseCommand
from coagent.application.courses.enroll_member import EnrollMember, EnrollMemberCommand
from coagent.application.courses.get_course import GetCourse, GetCourseCommand
from coagent.application.courses.list_courses import MAX_PAGE, ListCourses, ListCoursesCommand
from coagent.application.courses.list_members import ListMembers, ListMembersCommand
from coagent.application.courses.update_course import UpdateCourse, UpdateCourseCommand
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from coagent.domain.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio


@dataclass
class Cast:
    """One course created by `owner`, with a member of every course role, an outsider (a
    global teacher who is not a member) and an admin who is not a member either.
    """

    course: Course
    owner: User
    co_teacher: User
    ta: User
    student: User
    outsider: User
    admin: User


async def enroll(accounts: Accounts, course_id: UUID, user: User, role: CourseRole) -> None:
    async with accounts.uow() as uow:
        assert await uow.courses.add_member(course_id, user.id, role)
        await uow.commit()


async def new_course(accounts: Accounts, owner: User, title: str = "Course") -> Course:
    create = CreateCourse(uow=accounts.uow, clock=accounts.clock, ids=accounts.ids)
    return await create.execute(CreateCourseCommand(actor_id=owner.id, title=title))


def role_in(accounts: Accounts, course: Course, user: User) -> CourseRole | None:
    return accounts.store.memberships.get((course.id, user.id))


def members_of(accounts: Accounts, course: Course) -> dict[UUID, CourseRole]:
    return {
        user_id: role
        for (course_id, user_id), role in accounts.store.memberships.items()
        if course_id == course.id
    }


@pytest.fixture
async def cast(accounts: Accounts) -> Cast:
    owner = await accounts.add_user(role=Role.TEACHER, full_name="Olga Owner")
    co_teacher = await accounts.add_user(role=Role.TEACHER, full_name="Carl Co")
    ta = await accounts.add_user(role=Role.STUDENT, full_name="Tia Ta")
    student = await accounts.add_user(role=Role.STUDENT, full_name="Sam Student")
    outsider = await accounts.add_user(role=Role.TEACHER, full_name="Otto Outsider")
    admin = await accounts.add_user(role=Role.ADMIN, full_name="Ada Admin")
    course = await new_course(accounts, owner, "Algebra")
    await enroll(accounts, course.id, co_teacher, CourseRole.TEACHER)
    await enroll(accounts, course.id, ta, CourseRole.TA)
    await enroll(accounts, course.id, student, CourseRole.STUDENT)
    return Cast(
        course=course,
        owner=owner,
        co_teacher=co_teacher,
        ta=ta,
        student=student,
        outsider=outsider,
        admin=admin,
    )


# --- CreateCourse -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.TEACHER, Role.ADMIN, Role.SUPER_ADMIN])
async def test_teachers_and_admins_create_courses(accounts: Accounts, role: Role) -> None:
    creator = await accounts.add_user(role=role, full_name="Cleo Creator")
    create = CreateCourse(uow=accounts.uow, clock=accounts.clock, ids=accounts.ids)

    course = await create.execute(
        CreateCourseCommand(actor_id=creator.id, title="  Linear Algebra  ", description="Vectors")
    )

    assert (course.title, course.description) == ("Linear Algebra", "Vectors")
    assert course.owner_id == creator.id
    assert course.owner_name == "Cleo Creator"
    assert course.created_at == course.updated_at == accounts.clock.now()
    assert accounts.store.courses == {course.id: replace(course, owner_name=None)}
    # The creator owns the course and is its member as teacher, committed together.
    assert members_of(accounts, course) == {creator.id: CourseRole.TEACHER}
    assert accounts.store.commits == 2  # the user, then the course with its membership


@pytest.mark.parametrize("role", [Role.STUDENT, Role.TA, Role.GUEST])
async def test_others_may_not_create_courses(accounts: Accounts, role: Role) -> None:
    actor = await accounts.add_user(role=role)
    create = CreateCourse(uow=accounts.uow, clock=accounts.clock, ids=accounts.ids)

    with pytest.raises(Forbidden):
        await create.execute(CreateCourseCommand(actor_id=actor.id, title="Nope"))

    assert (accounts.store.courses, accounts.store.memberships) == ({}, {})


async def test_a_deactivated_teacher_creates_nothing(accounts: Accounts) -> None:
    teacher = await accounts.add_user(role=Role.TEACHER, is_active=False)

    with pytest.raises(NotAuthenticated):
        await new_course(accounts, teacher)

    assert accounts.store.courses == {}


# --- ListCourses --------------------------------------------------------------------------------


async def test_members_list_their_own_courses_newest_first(accounts: Accounts, cast: Cast) -> None:
    accounts.clock.advance(minutes=1)
    other = await new_course(accounts, cast.outsider, "Other")
    accounts.clock.advance(minutes=1)
    newer = await new_course(accounts, cast.owner, "Newer")
    await enroll(accounts, newer.id, cast.student, CourseRole.STUDENT)
    courses = ListCourses(uow=accounts.uow)

    mine = await courses.execute(ListCoursesCommand(actor_id=cast.student.id))
    theirs = await courses.execute(ListCoursesCommand(actor_id=cast.outsider.id))
    everything = await courses.execute(ListCoursesCommand(actor_id=cast.admin.id))

    assert [c.id for c in mine.items] == [newer.id, cast.course.id]
    assert mine.total == 2
    assert [c.owner_name for c in mine.items] == ["Olga Owner", "Olga Owner"]
    assert ([c.id for c in theirs.items], theirs.total) == ([other.id], 1)
    assert [c.id for c in everything.items] == [newer.id, other.id, cast.course.id]
    assert everything.total == 3


async def test_someone_in_no_course_lists_nothing(accounts: Accounts, cast: Cast) -> None:
    guest = await accounts.add_user(role=Role.GUEST)

    page = await ListCourses(uow=accounts.uow).execute(ListCoursesCommand(actor_id=guest.id))

    assert (list(page.items), page.total) == ([], 0)


async def test_course_lists_page(accounts: Accounts, cast: Cast) -> None:
    for n in range(3):
        accounts.clock.advance(minutes=1)
        await new_course(accounts, cast.owner, f"Extra {n}")
    courses = ListCourses(uow=accounts.uow)

    first = await courses.execute(ListCoursesCommand(actor_id=cast.owner.id, limit=2))
    rest = await courses.execute(ListCoursesCommand(actor_id=cast.owner.id, offset=2, limit=2))
    beyond = await courses.execute(ListCoursesCommand(actor_id=cast.owner.id, offset=9))
    widest = await courses.execute(ListCoursesCommand(actor_id=cast.owner.id, limit=MAX_PAGE))

    assert [c.title for c in first.items] == ["Extra 2", "Extra 1"]
    assert [c.title for c in rest.items] == ["Extra 0", "Algebra"]
    assert first.total == rest.total == beyond.total == widest.total == 4
    assert list(beyond.items) == []
    assert len(widest.items) == 4


@pytest.mark.parametrize(
    ("offset", "limit"), [(-1, 10), (0, 0), (0, -5), (0, MAX_PAGE + 1)], ids=str
)
async def test_course_paging_is_bounded(
    accounts: Accounts, cast: Cast, offset: int, limit: int
) -> None:
    with pytest.raises(InvalidInput):
        await ListCourses(uow=accounts.uow).execute(
            ListCoursesCommand(actor_id=cast.owner.id, offset=offset, limit=limit)
        )


# --- GetCourse ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "co_teacher", "ta", "student", "admin"])
async def test_members_and_admins_get_a_course(accounts: Accounts, cast: Cast, who: str) -> None:
    actor: User = getattr(cast, who)

    course = await GetCourse(uow=accounts.uow).execute(
        GetCourseCommand(actor_id=actor.id, course_id=cast.course.id)
    )

    assert course == cast.course
    assert course.owner_name == "Olga Owner"


async def test_to_an_outsider_a_course_does_not_exist(accounts: Accounts, cast: Cast) -> None:
    get = GetCourse(uow=accounts.uow)

    with pytest.raises(NotFound) as hidden:
        await get.execute(GetCourseCommand(actor_id=cast.outsider.id, course_id=cast.course.id))
    with pytest.raises(NotFound) as missing:
        await get.execute(
            GetCourseCommand(actor_id=cast.outsider.id, course_id=accounts.ids.new_id())
        )

    # Nothing tells a hidden course from a missing one.
    assert str(hidden.value) == str(missing.value)


# --- UpdateCourse -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "co_teacher", "admin"])
async def test_teachers_and_admins_update_a_course(
    accounts: Accounts, cast: Cast, who: str
) -> None:
    actor: User = getattr(cast, who)
    later = accounts.clock.advance(minutes=3)
    update = UpdateCourse(uow=accounts.uow, clock=accounts.clock)

    updated = await update.execute(
        UpdateCourseCommand(
            actor_id=actor.id, course_id=cast.course.id, title="  Geometry ", description="Shapes"
        )
    )

    assert (updated.title, updated.description, updated.updated_at) == ("Geometry", "Shapes", later)
    assert (updated.created_at, updated.owner_id) == (cast.course.created_at, cast.owner.id)
    assert accounts.store.courses[cast.course.id] == replace(updated, owner_name=None)


async def test_none_keeps_a_field_and_an_empty_description_clears_it(
    accounts: Accounts, cast: Cast
) -> None:
    update = UpdateCourse(uow=accounts.uow, clock=accounts.clock)
    command = UpdateCourseCommand(actor_id=cast.owner.id, course_id=cast.course.id)
    await update.execute(replace(command, description="Kept"))

    kept = await update.execute(replace(command, title="Renamed"))
    cleared = await update.execute(replace(command, description=""))

    assert (kept.title, kept.description) == ("Renamed", "Kept")
    assert (cleared.title, cleared.description) == ("Renamed", None)
    assert accounts.store.courses[cast.course.id].description is None


@pytest.mark.parametrize(
    ("who", "error"),
    [("ta", Forbidden), ("student", Forbidden), ("outsider", NotFound)],
)
async def test_others_may_not_update_a_course(
    accounts: Accounts, cast: Cast, who: str, error: type[Exception]
) -> None:
    actor: User = getattr(cast, who)
    before = accounts.store.courses[cast.course.id]

    with pytest.raises(error):
        await UpdateCourse(uow=accounts.uow, clock=accounts.clock).execute(
            UpdateCourseCommand(actor_id=actor.id, course_id=cast.course.id, title="Hacked")
        )

    assert accounts.store.courses[cast.course.id] == before


@pytest.mark.parametrize("title", ["", "   ", "\t\n"])
async def test_a_course_title_may_not_be_blank(accounts: Accounts, cast: Cast, title: str) -> None:
    with pytest.raises(InvalidInput):
        await UpdateCourse(uow=accounts.uow, clock=accounts.clock).execute(
            UpdateCourseCommand(actor_id=cast.owner.id, course_id=cast.course.id, title=title)
        )

    assert accounts.store.courses[cast.course.id].title == "Algebra"


# --- DeleteCourse -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "admin"])
async def test_the_owner_or_an_admin_deletes_a_course_with_its_memberships(
    accounts: Accounts, cast: Cast, who: str
) -> None:
    actor: User = getattr(cast, who)
    kept = await new_course(accounts, cast.owner, "Kept")
    await enroll(accounts, kept.id, cast.student, CourseRole.STUDENT)

    deleted = await DeleteCourse(uow=accounts.uow).execute(
        DeleteCourseCommand(actor_id=actor.id, course_id=cast.course.id)
    )

    assert deleted == cast.course
    assert set(accounts.store.courses) == {kept.id}
    assert members_of(accounts, cast.course) == {}
    assert members_of(accounts, kept) == {
        cast.owner.id: CourseRole.TEACHER,
        cast.student.id: CourseRole.STUDENT,
    }
    [event] = accounts.store.audit
    assert (event.actor_id, event.action, event.target_type, event.target_id) == (
        actor.id,
        "course.deleted",
        "course",
        str(cast.course.id),
    )
    assert event.details == {"title": "Algebra"}


@pytest.mark.parametrize(
    ("who", "error"),
    [("co_teacher", Forbidden), ("ta", Forbidden), ("student", Forbidden), ("outsider", NotFound)],
)
async def test_others_may_not_delete_a_course(
    accounts: Accounts, cast: Cast, who: str, error: type[Exception]
) -> None:
    actor: User = getattr(cast, who)

    with pytest.raises(error):
        await DeleteCourse(uow=accounts.uow).execute(
            DeleteCourseCommand(actor_id=actor.id, course_id=cast.course.id)
        )

    assert set(accounts.store.courses) == {cast.course.id}
    assert len(members_of(accounts, cast.course)) == 4
    assert accounts.store.audit == []


# --- EnrollMember -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "role", "allowed"),
    [
        ("ta", CourseRole.STUDENT, True),
        ("ta", CourseRole.TA, False),
        ("ta", CourseRole.TEACHER, False),
        ("co_teacher", CourseRole.STUDENT, True),
        ("co_teacher", CourseRole.TA, True),
        ("co_teacher", CourseRole.TEACHER, False),
        ("owner", CourseRole.TEACHER, True),
        ("admin", CourseRole.TEACHER, True),
        ("student", CourseRole.STUDENT, False),
    ],
)
async def test_who_enrolls_whom(
    accounts: Accounts, cast: Cast, who: str, role: CourseRole, allowed: bool
) -> None:
    actor: User = getattr(cast, who)
    newcomer = await accounts.add_user(role=Role.STUDENT)
    command = EnrollMemberCommand(
        actor_id=actor.id, course_id=cast.course.id, role=role, user_id=newcomer.id
    )

    if not allowed:
        with pytest.raises(Forbidden):
            await EnrollMember(uow=accounts.uow).execute(command)
        assert role_in(accounts, cast.course, newcomer) is None
        assert accounts.store.audit == []
        return

    enrollment = await EnrollMember(uow=accounts.uow).execute(command)

    assert (enrollment.user, enrollment.role, enrollment.created) == (newcomer, role, True)
    assert role_in(accounts, cast.course, newcomer) is role
    [event] = accounts.store.audit
    assert (event.actor_id, event.action, event.target_type, event.target_id) == (
        actor.id,
        "course.member_enrolled",
        "course",
        str(cast.course.id),
    )
    assert event.details == {"user_id": str(newcomer.id), "role": str(role)}


async def test_enrolling_by_email(accounts: Accounts, cast: Cast) -> None:
    newcomer = await accounts.add_user(email="nina@example.com")

    enrollment = await EnrollMember(uow=accounts.uow).execute(
        EnrollMemberCommand(
            actor_id=cast.ta.id, course_id=cast.course.id, user_email="  Nina@Example.COM "
        )
    )

    assert (enrollment.user.id, enrollment.role) == (newcomer.id, CourseRole.STUDENT)
    assert role_in(accounts, cast.course, newcomer) is CourseRole.STUDENT


async def test_enrolling_without_naming_anyone_is_invalid(accounts: Accounts, cast: Cast) -> None:
    with pytest.raises(InvalidInput, match="Give user_id or user_email"):
        await EnrollMember(uow=accounts.uow).execute(
            EnrollMemberCommand(actor_id=cast.owner.id, course_id=cast.course.id)
        )

    assert len(members_of(accounts, cast.course)) == 4


async def test_enrolling_by_id_and_email_of_the_same_user(accounts: Accounts, cast: Cast) -> None:
    """The original web client sends both for a picked search hit (any case, any spacing)."""
    newcomer = await accounts.add_user(email="nina@example.com")

    enrollment = await EnrollMember(uow=accounts.uow).execute(
        EnrollMemberCommand(
            actor_id=cast.ta.id,
            course_id=cast.course.id,
            user_id=newcomer.id,
            user_email=" Nina@Example.com",
        )
    )

    assert (enrollment.user.id, enrollment.created) == (newcomer.id, True)
    assert role_in(accounts, cast.course, newcomer) is CourseRole.STUDENT


async def test_enrolling_by_id_and_email_of_different_users_is_invalid(
    accounts: Accounts, cast: Cast
) -> None:
    newcomer = await accounts.add_user(email="nina@example.com")
    other = await accounts.add_user(email="olaf@example.com")

    with pytest.raises(InvalidInput, match="name different users"):
        await EnrollMember(uow=accounts.uow).execute(
            EnrollMemberCommand(
                actor_id=cast.owner.id,
                course_id=cast.course.id,
                user_id=newcomer.id,
                user_email=other.email,
            )
        )

    assert role_in(accounts, cast.course, newcomer) is None
    assert role_in(accounts, cast.course, other) is None


async def test_an_unauthorized_caller_learns_nothing_from_a_mismatch(
    accounts: Accounts, cast: Cast
) -> None:
    """Authorization comes before the lookup: a student cannot probe whose email is whose."""
    newcomer = await accounts.add_user(email="nina@example.com")

    with pytest.raises(Forbidden):
        await EnrollMember(uow=accounts.uow).execute(
            EnrollMemberCommand(
                actor_id=cast.student.id,
                course_id=cast.course.id,
                user_id=newcomer.id,
                user_email="someone-else@example.com",
            )
        )


@pytest.mark.parametrize("lookup", ["unknown-id", "unknown-email", "inactive-id", "inactive-email"])
async def test_enrolling_an_unknown_or_inactive_user_is_not_found(
    accounts: Accounts, cast: Cast, lookup: str
) -> None:
    inactive = await accounts.add_user(email="gone@example.com", is_active=False)
    who = {
        "unknown-id": {"user_id": accounts.ids.new_id()},
        "unknown-email": {"user_email": "nobody@example.com"},
        "inactive-id": {"user_id": inactive.id},
        "inactive-email": {"user_email": "gone@example.com"},
    }[lookup]

    with pytest.raises(NotFound, match="User not found"):
        await EnrollMember(uow=accounts.uow).execute(
            EnrollMemberCommand(actor_id=cast.owner.id, course_id=cast.course.id, **who)  # type: ignore[arg-type]
        )

    assert role_in(accounts, cast.course, inactive) is None
    assert accounts.store.audit == []


async def test_enrolling_twice_changes_nothing_and_says_so(accounts: Accounts, cast: Cast) -> None:
    newcomer = await accounts.add_user()
    enroll_member = EnrollMember(uow=accounts.uow)
    command = EnrollMemberCommand(
        actor_id=cast.co_teacher.id, course_id=cast.course.id, user_id=newcomer.id
    )

    first = await enroll_member.execute(command)
    again = await enroll_member.execute(replace(command, role=CourseRole.TA))

    assert (first.created, again.created) == (True, False)
    assert role_in(accounts, cast.course, newcomer) is CourseRole.STUDENT
    assert accounts.store.actions() == ["course.member_enrolled"]


async def test_an_outsider_cannot_enroll_anyone(accounts: Accounts, cast: Cast) -> None:
    with pytest.raises(NotFound, match="Course not found"):
        await EnrollMember(uow=accounts.uow).execute(
            EnrollMemberCommand(
                actor_id=cast.outsider.id, course_id=cast.course.id, user_id=cast.outsider.id
            )
        )

    assert role_in(accounts, cast.course, cast.outsider) is None


async def test_enrolling_into_a_missing_course_is_not_found(accounts: Accounts, cast: Cast) -> None:
    with pytest.raises(NotFound, match="Course not found"):
        await EnrollMember(uow=accounts.uow).execute(
            EnrollMemberCommand(
                actor_id=cast.admin.id, course_id=accounts.ids.new_id(), user_id=cast.student.id
            )
        )


# --- ListMembers --------------------------------------------------------------------------------


async def test_students_see_members_without_emails(accounts: Accounts, cast: Cast) -> None:
    members = await ListMembers(uow=accounts.uow).execute(
        ListMembersCommand(actor_id=cast.student.id, course_id=cast.course.id)
    )

    assert [(m.full_name, m.role, m.is_owner) for m in members] == [
        ("Carl Co", CourseRole.TEACHER, False),
        ("Olga Owner", CourseRole.TEACHER, True),
        ("Tia Ta", CourseRole.TA, False),
        ("Sam Student", CourseRole.STUDENT, False),
    ]
    assert [m.email for m in members] == ["", "", "", ""]


@pytest.mark.parametrize("who", ["ta", "co_teacher", "owner", "admin"])
async def test_staff_see_member_emails(accounts: Accounts, cast: Cast, who: str) -> None:
    actor: User = getattr(cast, who)

    members = await ListMembers(uow=accounts.uow).execute(
        ListMembersCommand(actor_id=actor.id, course_id=cast.course.id)
    )

    assert [m.email for m in members] == [
        cast.co_teacher.email,
        cast.owner.email,
        cast.ta.email,
        cast.student.email,
    ]


async def test_outsiders_do_not_see_members(accounts: Accounts, cast: Cast) -> None:
    with pytest.raises(NotFound):
        await ListMembers(uow=accounts.uow).execute(
            ListMembersCommand(actor_id=cast.outsider.id, course_id=cast.course.id)
        )


# --- ChangeMember -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [CourseRole.STUDENT, CourseRole.TA, None], ids=str)
@pytest.mark.parametrize("who", ["owner", "admin"])
async def test_the_owners_membership_never_changes(
    accounts: Accounts, cast: Cast, who: str, role: CourseRole | None
) -> None:
    actor: User = getattr(cast, who)

    with pytest.raises(Conflict):
        await ChangeMember(uow=accounts.uow).execute(
            ChangeMemberCommand(
                actor_id=actor.id, course_id=cast.course.id, user_id=cast.owner.id, role=role
            )
        )

    assert role_in(accounts, cast.course, cast.owner) is CourseRole.TEACHER
    assert accounts.store.audit == []


@pytest.mark.parametrize(
    ("who", "target", "role", "error"),
    [
        ("ta", "ta", CourseRole.STUDENT, Forbidden),  # TAs do not manage TAs
        ("ta", "ta", None, Forbidden),
        ("ta", "student", CourseRole.TA, Forbidden),  # nor promote to TA
        ("co_teacher", "student", CourseRole.TEACHER, Forbidden),
        ("co_teacher", "co_teacher", None, Forbidden),  # teachers are the owner's to manage
        ("student", "student", None, Forbidden),
        ("outsider", "student", None, NotFound),
    ],
)
async def test_who_may_not_change_whom(
    accounts: Accounts,
    cast: Cast,
    who: str,
    target: str,
    role: CourseRole | None,
    error: type[Exception],
) -> None:
    actor: User = getattr(cast, who)
    member: User = getattr(cast, target)
    before = members_of(accounts, cast.course)

    with pytest.raises(error):
        await ChangeMember(uow=accounts.uow).execute(
            ChangeMemberCommand(
                actor_id=actor.id, course_id=cast.course.id, user_id=member.id, role=role
            )
        )

    assert members_of(accounts, cast.course) == before
    assert accounts.store.audit == []


@pytest.mark.parametrize(
    ("who", "target", "role"),
    [
        ("co_teacher", "student", CourseRole.TA),
        ("co_teacher", "ta", CourseRole.STUDENT),
        ("owner", "co_teacher", CourseRole.TA),
        ("admin", "student", CourseRole.TEACHER),
    ],
)
async def test_changing_a_members_role(
    accounts: Accounts, cast: Cast, who: str, target: str, role: CourseRole
) -> None:
    actor: User = getattr(cast, who)
    member: User = getattr(cast, target)
    previous = role_in(accounts, cast.course, member)

    await ChangeMember(uow=accounts.uow).execute(
        ChangeMemberCommand(
            actor_id=actor.id, course_id=cast.course.id, user_id=member.id, role=role
        )
    )

    assert role_in(accounts, cast.course, member) is role
    [event] = accounts.store.audit
    assert (event.actor_id, event.action, event.target_type, event.target_id) == (
        actor.id,
        "course.member_role_changed",
        "course",
        str(cast.course.id),
    )
    assert event.details == {"user_id": str(member.id), "from": str(previous), "to": str(role)}


@pytest.mark.parametrize(
    ("who", "target"), [("ta", "student"), ("co_teacher", "ta"), ("owner", "co_teacher")]
)
async def test_removing_a_member(accounts: Accounts, cast: Cast, who: str, target: str) -> None:
    actor: User = getattr(cast, who)
    member: User = getattr(cast, target)
    previous = role_in(accounts, cast.course, member)

    await ChangeMember(uow=accounts.uow).execute(
        ChangeMemberCommand(actor_id=actor.id, course_id=cast.course.id, user_id=member.id)
    )

    assert role_in(accounts, cast.course, member) is None
    assert len(members_of(accounts, cast.course)) == 3
    [event] = accounts.store.audit
    assert (event.actor_id, event.action, event.target_id) == (
        actor.id,
        "course.member_removed",
        str(cast.course.id),
    )
    assert event.details == {"user_id": str(member.id), "from": str(previous)}
    # The removed member no longer sees the course.
    with pytest.raises(NotFound):
        await GetCourse(uow=accounts.uow).execute(
            GetCourseCommand(actor_id=member.id, course_id=cast.course.id)
        )


async def test_changing_a_non_member_is_not_found(accounts: Accounts, cast: Cast) -> None:
    with pytest.raises(NotFound, match="not a member"):
        await ChangeMember(uow=accounts.uow).execute(
            ChangeMemberCommand(
                actor_id=cast.owner.id,
                course_id=cast.course.id,
                user_id=cast.outsider.id,
                role=CourseRole.TA,
            )
        )

    assert role_in(accounts, cast.course, cast.outsider) is None
    assert accounts.store.audit == []
