"""List endpoints cost a fixed number of SQL statements, whatever the course's size."""

import pytest
from sqlalchemy import event

from coagent.application.accounts.create_user import NewAccount
from coagent.domain.accounts.roles import Role
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import AiMode, Room
from tests.api.conftest import container_of, create_course, run, signed_in


def _populate(client, course_id: str, rooms: int, members: int) -> None:
    """Add rooms and members straight through the repositories, in one transaction."""
    container = container_of(client)
    from uuid import UUID  # noqa: PLC0415

    from coagent.adapters.system import SystemClock, Uuid7Generator  # noqa: PLC0415

    clock, ids = SystemClock(), Uuid7Generator()

    async def fill() -> None:
        async with container.uow() as uow:
            for number in range(members):
                user = await container.account_factory.add(
                    uow,
                    NewAccount(
                        email=f"m{number}-{course_id[-12:]}@example.test",
                        password="long enough password",
                        role=Role.STUDENT,
                    ),
                    actor_id=None,
                    via="test",
                )
                await uow.courses.add_member(UUID(course_id), user.id, CourseRole.STUDENT)
            for number in range(rooms):
                now = clock.now()
                await uow.rooms.add(
                    Room(
                        id=ids.new_id(),
                        course_id=UUID(course_id),
                        name=f"Room {number}",
                        description=None,
                        ai_mode=AiMode.TEACHER_ONLY,
                        ai_frequency=0.5,
                        is_ai_active=True,
                        is_analytics_active=False,
                        created_at=now,
                        updated_at=now,
                    )
                )
            await uow.commit()

    run(client, fill)


def _statements(client, method: str, path: str, headers, params=None) -> int:
    engine = container_of(client).engine.sync_engine
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.request(method, path, headers=headers, params=params)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.text
    return len(seen)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/courses/{c}/members", None),
        ("/api/v1/rooms/", {"course_id": "{c}"}),
        ("/api/v1/courses/", None),
        ("/api/v1/announcements/", {"course_id": "{c}"}),
    ],
)
def test_list_endpoints_do_not_grow_with_the_course(client, path, params):
    teacher = signed_in(client, Role.TEACHER)
    small = create_course(client, teacher, "Small")
    big = create_course(client, teacher, "Big")
    _populate(client, small, rooms=1, members=1)
    _populate(client, big, rooms=50, members=200)

    def cost(course_id: str) -> int:
        filled = {k: v.replace("{c}", course_id) for k, v in (params or {}).items()}
        return _statements(client, "GET", path.replace("{c}", course_id), teacher.headers, filled)

    small_cost, big_cost = cost(small), cost(big)
    assert big_cost == small_cost
    assert big_cost <= 6  # actor, course, standing, the list (and a count when paged)
