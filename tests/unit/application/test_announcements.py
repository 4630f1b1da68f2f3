"""The announcement use cases against the fakes and the real course policy."""

from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import pytest

from coagent.application.courses.create_course import CreateCourse, CreateCourseCommand
from coagent.application.courses.delete_announcement import (
    DeleteAnnouncement,
    DeleteAnnouncementCommand,
)
from coagent.application.courses.delete_course import DeleteCourse, DeleteCourseCommand
from coagent.application.courses.edit_announcement import EditAnnouncement, EditAnnouncementCommand
from coagent.application.courses.list_announcements import (
    MAX_PAGE,
    ListAnnouncements,
    ListAnnouncementsCommand,
)
from coagent.application.courses.post_announcement import PostAnnouncement, PostAnnouncementCommand
from coagent.application.ports.events import CourseEvent
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.courses.announcement import Announcement
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from coagent.domain.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from tests.fakes.events import RecordingPublisher
from tests.fakes.repositories import InMemoryUnitOfWork
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio

STAFF = ["ta", "co_teacher", "owner", "admin"]
MEMBERS_AND_ADMIN = ["student", *STAFF]


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


@dataclass
class Seen:
    """What was committed when an event was published."""

    commits: int
    announcements: dict[UUID, Announcement]
    actions: list[str]


async def enroll(accounts: Accounts, course_id: UUID, user: User, role: CourseRole) -> None:
    async with accounts.uow() as uow:
        assert await uow.courses.add_member(course_id, user.id, role)
        await uow.commit()


async def new_course(accounts: Accounts, owner: User, title: str = "Course") -> Course:
    create = CreateCourse(uow=accounts.uow, clock=accounts.clock, ids=accounts.ids)
    return await create.execute(CreateCourseCommand(actor_id=owner.id, title=title))


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


@pytest.fixture
def publisher(accounts: Accounts) -> RecordingPublisher:
    store = accounts.store
    return RecordingPublisher(
        lambda: Seen(
            commits=store.commits,
            announcements=dict(store.announcements),
            actions=store.actions(),
        )
    )


async def post(
    accounts: Accounts,
    publisher: RecordingPublisher,
    actor: User,
    course: Course,
    *,
    title: str = "Exam moved",
    content: str = "The exam is on Friday.",
) -> Announcement:
    use_case = PostAnnouncement(
        uow=accounts.uow, events=publisher, clock=accounts.clock, ids=accounts.ids
    )
    return await use_case.execute(
        PostAnnouncementCommand(
            actor_id=actor.id, course_id=course.id, title=title, content=content
        )
    )


async def edit(
    accounts: Accounts,
    publisher: RecordingPublisher,
    actor: User,
    announcement_id: UUID,
    **fields: Any,
) -> Announcement:
    use_case = EditAnnouncement(uow=accounts.uow, events=publisher, clock=accounts.clock)
    return await use_case.execute(
        EditAnnouncementCommand(actor_id=actor.id, announcement_id=announcement_id, **fields)
    )


async def delete(
    accounts: Accounts, publisher: RecordingPublisher, actor: User, announcement_id: UUID
) -> Announcement:
    use_case = DeleteAnnouncement(uow=accounts.uow, events=publisher)
    return await use_case.execute(
        DeleteAnnouncementCommand(actor_id=actor.id, announcement_id=announcement_id)
    )


async def listed(
    accounts: Accounts, actor: User, course: Course, *, offset: int = 0, limit: int = 100
) -> tuple[list[UUID], int]:
    page = await ListAnnouncements(uow=accounts.uow).execute(
        ListAnnouncementsCommand(actor_id=actor.id, course_id=course.id, offset=offset, limit=limit)
    )
    return [a.id for a in page.items], page.total


@pytest.fixture
async def announcement(accounts: Accounts, cast: Cast) -> Announcement:
    """A committed announcement by the TA; its creation event is not recorded."""
    return await post(accounts, RecordingPublisher(), cast.ta, cast.course)


def expect_event(kind: str, announcement: Announcement) -> CourseEvent:
    return CourseEvent(
        course_id=announcement.course_id,
        type=f"announcement.{kind}",
        data={
            "id": str(announcement.id),
            "title": announcement.title,
            "content": announcement.content,
            "author_id": str(announcement.author_id) if announcement.author_id else None,
            "created_at": announcement.created_at.isoformat(),
            "updated_at": announcement.updated_at.isoformat(),
        },
    )


# --- PostAnnouncement ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", STAFF)
async def test_staff_and_admins_post_announcements(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher, who: str
) -> None:
    actor: User = getattr(cast, who)
    commits = accounts.store.commits
    later = accounts.clock.advance(minutes=3)

    posted = await post(
        accounts, publisher, actor, cast.course, title="  Exam moved  ", content="  Friday.\n"
    )

    assert posted.course_id == cast.course.id
    assert posted.author_id == actor.id
    assert (posted.title, posted.content) == ("Exam moved", "  Friday.\n")
    assert posted.created_at == posted.updated_at == later
    assert accounts.store.announcements == {posted.id: posted}
    assert accounts.store.commits == commits + 1
    # Exactly one event, published once the announcement was committed.
    assert publisher.events == [expect_event("created", posted)]
    [event] = publisher.events
    assert (event.course_id, event.type, event.data["title"]) == (
        cast.course.id,
        "announcement.created",
        "Exam moved",
    )
    [seen] = publisher.observed
    assert seen.commits == commits + 1
    assert seen.announcements == {posted.id: posted}


@pytest.mark.parametrize(
    ("who", "error", "message"),
    [("student", Forbidden, "may not"), ("outsider", NotFound, "Course not found")],
    ids=str,
)
async def test_others_may_not_post(
    accounts: Accounts,
    cast: Cast,
    publisher: RecordingPublisher,
    who: str,
    error: type[Exception],
    message: str,
) -> None:
    actor: User = getattr(cast, who)

    with pytest.raises(error, match=message):
        await post(accounts, publisher, actor, cast.course)

    assert accounts.store.announcements == {}
    assert publisher.events == []


async def test_posting_to_a_missing_course_is_not_found(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher
) -> None:
    missing = replace(cast.course, id=accounts.ids.new_id())

    with pytest.raises(NotFound, match="Course not found"):
        await post(accounts, publisher, cast.admin, missing)

    assert accounts.store.announcements == {}
    assert publisher.events == []


async def test_a_deactivated_ta_posts_nothing(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher
) -> None:
    async with accounts.uow() as uow:
        await uow.users.update(replace(cast.ta, is_active=False))
        await uow.commit()

    with pytest.raises(NotAuthenticated):
        await post(accounts, publisher, cast.ta, cast.course)

    assert accounts.store.announcements == {}
    assert publisher.events == []


@pytest.mark.parametrize(
    "fields",
    [{"title": ""}, {"title": "  \t\n"}, {"content": ""}, {"content": " \n "}],
    ids=str,
)
async def test_blank_announcements_are_refused(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher, fields: dict[str, str]
) -> None:
    commits = accounts.store.commits

    with pytest.raises(InvalidInput, match="must not be blank"):
        await post(accounts, publisher, cast.owner, cast.course, **fields)

    assert accounts.store.announcements == {}
    assert accounts.store.commits == commits
    assert publisher.events == []


async def test_nothing_is_published_when_the_commit_fails(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_commit(self: InMemoryUnitOfWork) -> None:
        raise RuntimeError("database down")

    monkeypatch.setattr(InMemoryUnitOfWork, "commit", broken_commit)

    with pytest.raises(RuntimeError, match="database down"):
        await post(accounts, publisher, cast.owner, cast.course)

    assert accounts.store.announcements == {}
    assert publisher.events == []


# --- ListAnnouncements --------------------------------------------------------------------------


@pytest.mark.parametrize("who", MEMBERS_AND_ADMIN)
async def test_members_and_admins_list_announcements_newest_first(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher, who: str
) -> None:
    actor: User = getattr(cast, who)
    other = await new_course(accounts, cast.owner, "Other")
    first = await post(accounts, publisher, cast.owner, cast.course, title="First")
    accounts.clock.advance(minutes=1)
    second = await post(accounts, publisher, cast.ta, cast.course, title="Second")
    third = await post(accounts, publisher, cast.admin, cast.course, title="Third")  # same time
    await post(accounts, publisher, cast.owner, other, title="Elsewhere")

    assert await listed(accounts, actor, cast.course) == ([third.id, second.id, first.id], 3)
    assert await listed(accounts, actor, cast.course, offset=1, limit=1) == ([second.id], 3)
    assert await listed(accounts, actor, cast.course, offset=3) == ([], 3)


async def test_a_course_without_announcements_lists_none(accounts: Accounts, cast: Cast) -> None:
    assert await listed(accounts, cast.student, cast.course) == ([], 0)


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, 0), (0, -1), (0, MAX_PAGE + 1)])
async def test_announcement_paging_is_bounded(
    accounts: Accounts, cast: Cast, offset: int, limit: int
) -> None:
    with pytest.raises(InvalidInput):
        await listed(accounts, cast.owner, cast.course, offset=offset, limit=limit)


async def test_the_largest_page_is_allowed(
    accounts: Accounts, cast: Cast, announcement: Announcement
) -> None:
    assert await listed(accounts, cast.student, cast.course, limit=MAX_PAGE) == (
        [announcement.id],
        1,
    )


async def test_outsiders_do_not_see_announcements(
    accounts: Accounts, cast: Cast, announcement: Announcement
) -> None:
    with pytest.raises(NotFound, match="Course not found"):
        await listed(accounts, cast.outsider, cast.course)


# --- EditAnnouncement ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", STAFF)
async def test_staff_and_admins_edit_announcements(
    accounts: Accounts,
    cast: Cast,
    publisher: RecordingPublisher,
    announcement: Announcement,
    who: str,
) -> None:
    actor: User = getattr(cast, who)
    commits = accounts.store.commits
    later = accounts.clock.advance(minutes=7)

    edited = await edit(
        accounts, publisher, actor, announcement.id, title="  Exam moved again ", content="Monday"
    )

    assert edited == replace(
        announcement, title="Exam moved again", content="Monday", updated_at=later
    )
    assert edited.author_id == cast.ta.id  # the author stays the author
    assert edited.created_at == announcement.created_at
    assert accounts.store.announcements == {announcement.id: edited}
    assert accounts.store.commits == commits + 1
    assert publisher.events == [expect_event("updated", edited)]
    [event] = publisher.events
    assert (event.course_id, event.type, event.data["title"]) == (
        cast.course.id,
        "announcement.updated",
        "Exam moved again",
    )
    [seen] = publisher.observed
    assert seen.commits == commits + 1
    assert seen.announcements == {announcement.id: edited}


@pytest.mark.parametrize(
    ("fields", "title", "content"),
    [
        ({"title": "Only the title"}, "Only the title", "The exam is on Friday."),
        ({"content": "Only the content"}, "Exam moved", "Only the content"),
        ({}, "Exam moved", "The exam is on Friday."),
    ],
    ids=["title", "content", "nothing"],
)
async def test_an_edit_changes_only_the_given_fields(
    accounts: Accounts,
    cast: Cast,
    publisher: RecordingPublisher,
    announcement: Announcement,
    fields: dict[str, str],
    title: str,
    content: str,
) -> None:
    later = accounts.clock.advance(seconds=30)

    edited = await edit(accounts, publisher, cast.owner, announcement.id, **fields)

    assert (edited.title, edited.content) == (title, content)
    assert edited.updated_at == later > announcement.updated_at
    assert accounts.store.announcements[announcement.id] == edited
    assert publisher.types() == ["announcement.updated"]


@pytest.mark.parametrize(
    "fields", [{"title": ""}, {"title": "   "}, {"content": ""}, {"content": "\n\t"}], ids=str
)
async def test_a_blank_edit_writes_nothing(
    accounts: Accounts,
    cast: Cast,
    publisher: RecordingPublisher,
    announcement: Announcement,
    fields: dict[str, str],
) -> None:
    commits = accounts.store.commits
    accounts.clock.advance(minutes=1)

    with pytest.raises(InvalidInput, match="must not be blank"):
        await edit(accounts, publisher, cast.owner, announcement.id, **fields)

    assert accounts.store.announcements == {announcement.id: announcement}
    assert accounts.store.commits == commits
    assert publisher.events == []


async def test_students_may_not_edit(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher, announcement: Announcement
) -> None:
    with pytest.raises(Forbidden):
        await edit(accounts, publisher, cast.student, announcement.id, title="Hacked")

    assert accounts.store.announcements == {announcement.id: announcement}
    assert publisher.events == []


async def test_to_an_outsider_an_announcement_does_not_exist_for_editing(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher, announcement: Announcement
) -> None:
    with pytest.raises(NotFound) as hidden:
        await edit(accounts, publisher, cast.outsider, announcement.id, title="Hacked")
    with pytest.raises(NotFound) as missing:
        await edit(accounts, publisher, cast.outsider, accounts.ids.new_id(), title="Hacked")

    assert str(hidden.value) == str(missing.value) == "Announcement not found"
    assert type(hidden.value) is type(missing.value)
    assert accounts.store.announcements == {announcement.id: announcement}
    assert publisher.events == []


async def test_editing_a_missing_announcement_is_not_found(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher
) -> None:
    with pytest.raises(NotFound, match="Announcement not found"):
        await edit(accounts, publisher, cast.admin, accounts.ids.new_id(), title="New")

    assert accounts.store.announcements == {}
    assert publisher.events == []


# --- DeleteAnnouncement -------------------------------------------------------------------------


@pytest.mark.parametrize("who", STAFF)
async def test_staff_and_admins_delete_announcements(
    accounts: Accounts,
    cast: Cast,
    publisher: RecordingPublisher,
    announcement: Announcement,
    who: str,
) -> None:
    actor: User = getattr(cast, who)
    kept = await post(accounts, RecordingPublisher(), cast.owner, cast.course, title="Kept")
    events = len(accounts.store.audit)
    commits = accounts.store.commits

    deleted = await delete(accounts, publisher, actor, announcement.id)

    assert deleted == announcement
    assert accounts.store.announcements == {kept.id: kept}
    assert accounts.store.commits == commits + 1
    [event] = accounts.store.audit[events:]
    assert (event.actor_id, event.action, event.target_type, event.target_id) == (
        actor.id,
        "announcement.deleted",
        "announcement",
        str(announcement.id),
    )
    assert event.details == {"course_id": str(cast.course.id), "title": "Exam moved"}
    assert publisher.events == [expect_event("deleted", announcement)]
    [published] = publisher.events
    assert (published.course_id, published.type, published.data["title"]) == (
        cast.course.id,
        "announcement.deleted",
        "Exam moved",
    )
    [seen] = publisher.observed
    assert seen.commits == commits + 1
    assert seen.announcements == {kept.id: kept}
    assert seen.actions[-1] == "announcement.deleted"


async def test_students_may_not_delete(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher, announcement: Announcement
) -> None:
    with pytest.raises(Forbidden):
        await delete(accounts, publisher, cast.student, announcement.id)

    assert accounts.store.announcements == {announcement.id: announcement}
    assert "announcement.deleted" not in accounts.store.actions()
    assert publisher.events == []


async def test_to_an_outsider_an_announcement_does_not_exist_for_deleting(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher, announcement: Announcement
) -> None:
    with pytest.raises(NotFound) as hidden:
        await delete(accounts, publisher, cast.outsider, announcement.id)
    with pytest.raises(NotFound) as missing:
        await delete(accounts, publisher, cast.outsider, accounts.ids.new_id())

    assert str(hidden.value) == str(missing.value) == "Announcement not found"
    assert type(hidden.value) is type(missing.value)
    assert accounts.store.announcements == {announcement.id: announcement}
    assert "announcement.deleted" not in accounts.store.actions()
    assert publisher.events == []


async def test_deleting_a_missing_announcement_is_not_found(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher
) -> None:
    with pytest.raises(NotFound, match="Announcement not found"):
        await delete(accounts, publisher, cast.admin, accounts.ids.new_id())

    assert "announcement.deleted" not in accounts.store.actions()
    assert publisher.events == []


async def test_deleting_twice_is_not_found_the_second_time(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher, announcement: Announcement
) -> None:
    await delete(accounts, publisher, cast.owner, announcement.id)

    with pytest.raises(NotFound, match="Announcement not found"):
        await delete(accounts, publisher, cast.owner, announcement.id)

    assert accounts.store.actions().count("announcement.deleted") == 1
    assert publisher.types() == ["announcement.deleted"]


# --- with the course ----------------------------------------------------------------------------


async def test_announcements_go_with_their_course(
    accounts: Accounts, cast: Cast, publisher: RecordingPublisher, announcement: Announcement
) -> None:
    await DeleteCourse(uow=accounts.uow).execute(
        DeleteCourseCommand(actor_id=cast.owner.id, course_id=cast.course.id)
    )

    assert accounts.store.announcements == {}
    with pytest.raises(NotFound, match="Announcement not found"):
        await edit(accounts, publisher, cast.admin, announcement.id, title="Ghost")
    assert publisher.events == []


async def test_a_removed_member_no_longer_reads_announcements(
    accounts: Accounts, cast: Cast, announcement: Announcement
) -> None:
    async with accounts.uow() as uow:
        await uow.courses.remove_member(cast.course.id, cast.student.id)
        await uow.commit()

    with pytest.raises(NotFound, match="Course not found"):
        await listed(accounts, cast.student, cast.course)
