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


def _sent_to_postgresql(client, method: str, path: str, headers, params=None) -> list[str]:
    """Every statement PostgreSQL receives for one request, hot reads on the driver included
    (they bypass SQLAlchemy's cursor events: see persistence/rows.py).
    """
    engine = container_of(client).engine.sync_engine
    sent: list[str] = []

    def log(query) -> None:
        sent.append(query.query)

    def attach(dbapi, _record, _proxy) -> None:
        dbapi.driver_connection.add_query_logger(log)

    def detach(dbapi, _record) -> None:
        dbapi.driver_connection.remove_query_logger(log)

    event.listen(engine, "checkout", attach)
    event.listen(engine, "checkin", detach)
    try:
        response = client.request(method, path, headers=headers, params=params)
    finally:
        event.remove(engine, "checkout", attach)
        event.remove(engine, "checkin", detach)
    assert response.status_code == 200, response.text
    # asyncpg calls its loggers with call_soon on the app's loop: any request after this one
    # runs on that loop after them (this one reads no database).
    assert client.get("/api/v1/login/session", headers=headers).status_code == 200
    return sent


def test_a_history_page_is_one_statement_whatever_its_size(client):
    """The standing and the page, encoded by PostgreSQL, in one statement; no transaction."""
    teacher = signed_in(client, Role.TEACHER)
    course = create_course(client, teacher, "History")
    room = client.post(
        "/api/v1/rooms/", json={"course_id": course, "name": "R"}, headers=teacher.headers
    ).json()["id"]
    path = f"/api/v1/chat/messages/{room}"
    for number in range(120):
        sent = client.post(path, json={"content": f"m{number}"}, headers=teacher.headers)
        assert sent.status_code == 201, sent.text
    for params in ({"limit": "1"}, {"limit": "100"}, {"limit": "50", "before_seq": "60"}):
        statements = _sent_to_postgresql(client, "GET", path, teacher.headers, params)
        assert len(statements) == 1, statements
        assert "string_agg" in statements[0]


def test_the_agent_configuration_list_is_two_statements(client):
    """The course standing, then the list (keys' masks in it), whatever the course holds."""
    teacher = signed_in(client, Role.TEACHER)
    course = create_course(client, teacher, "Agents")
    path = f"/api/v1/agent-config/{course}"
    empty = _sent_to_postgresql(client, "GET", path, teacher.headers)
    for name in ("A", "B", "C"):
        made = client.post(
            f"/api/v1/agents/{course}",
            json={"type": "teacher", "name": name, "system_prompt": "p"},
            headers=teacher.headers,
        )
        assert made.status_code in (200, 201), made.text
    full = _sent_to_postgresql(client, "GET", path, teacher.headers)
    assert len(full) == len(empty) == 2, full
    assert "FROM agent_config" in full[1]


@pytest.mark.parametrize("path", ["/api/v1/rooms/{r}/agents/turns", "/api/v1/rooms/{r}/proposals"])
def test_agent_turn_and_proposal_lists_are_the_standing_and_the_page(client, path):
    """The room standing, the page (with the total), and a count only for an empty page: no
    transaction, no ORM statement.
    """
    teacher = signed_in(client, Role.TEACHER)
    course = create_course(client, teacher, "Turns")
    room = client.post(
        "/api/v1/rooms/", json={"course_id": course, "name": "R"}, headers=teacher.headers
    ).json()["id"]
    statements = _sent_to_postgresql(client, "GET", path.replace("{r}", room), teacher.headers)
    assert len(statements) == 3, statements
    assert "FROM user_account" in statements[0]
    page, count = statements[1], statements[2]
    # The page is cut first; its total is a sub-select, not a window over every row.
    assert ") AS cut LEFT OUTER JOIN message" in page
    assert "(SELECT count(*)" in page
    assert "OVER" not in page
    assert count.startswith("SELECT count(*)")  # an empty page carries no total
    assert not any(s.strip().upper().startswith("BEGIN") for s in statements)
