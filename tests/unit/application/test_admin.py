"""BrowseTables, BrowseRows and ReadAuditLog with fakes."""

from datetime import UTC, datetime

import pytest

from coagent.application.admin.audit import MAX_PAGE, ReadAuditLog, ReadAuditLogCommand
from coagent.application.admin.browse_rows import MAX_ROWS, BrowseRows, BrowseRowsCommand
from coagent.application.admin.browse_tables import BrowseTables, BrowseTablesCommand
from coagent.application.ports.admin import DatabaseBrowser
from coagent.domain.accounts.roles import Role
from coagent.domain.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from tests.fakes.admin import FakeDatabaseBrowser
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio

NOT_ADMINS = [Role.GUEST, Role.STUDENT, Role.TA, Role.TEACHER]


@pytest.fixture
def browser() -> FakeDatabaseBrowser:
    return FakeDatabaseBrowser({"course": [{"id": str(n)} for n in range(5)], "room": []})


def test_the_fake_matches_the_port(browser: FakeDatabaseBrowser) -> None:
    port: DatabaseBrowser = browser
    assert port is browser


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPER_ADMIN])
async def test_admins_browse(accounts: Accounts, browser: FakeDatabaseBrowser, role: Role) -> None:
    admin = await accounts.add_user(role=role)
    tables = await BrowseTables(uow=accounts.uow, browser=browser).execute(
        BrowseTablesCommand(actor_id=admin.id)
    )
    assert tables == ["course", "room"]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = await BrowseRows(uow=accounts.uow, browser=browser).execute(
        BrowseRowsCommand(
            actor_id=admin.id,
            table="course",
            limit=2,
            offset=1,
            search="  ab  ",
            start=start,
            resolve_relations=True,
        )
    )
    assert rows == [{"id": "1"}, {"id": "2"}]
    assert browser.calls == [
        {
            "table": "course",
            "limit": 2,
            "offset": 1,
            "search": "ab",
            "start": start,
            "end": None,
            "resolve_relations": True,
        }
    ]


@pytest.mark.parametrize("role", NOT_ADMINS)
async def test_everyone_else_is_forbidden(
    accounts: Accounts, browser: FakeDatabaseBrowser, role: Role
) -> None:
    user = await accounts.add_user(role=role)
    with pytest.raises(Forbidden):
        await BrowseTables(uow=accounts.uow, browser=browser).execute(
            BrowseTablesCommand(actor_id=user.id)
        )
    # Even for an unknown table: outsiders cannot tell which tables exist.
    for table in ("course", "nope"):
        with pytest.raises(Forbidden):
            await BrowseRows(uow=accounts.uow, browser=browser).execute(
                BrowseRowsCommand(actor_id=user.id, table=table)
            )
    with pytest.raises(Forbidden):
        await ReadAuditLog(uow=accounts.uow).execute(ReadAuditLogCommand(actor_id=user.id))
    assert browser.calls == []


async def test_inactive_admins_are_not_authenticated(
    accounts: Accounts, browser: FakeDatabaseBrowser
) -> None:
    admin = await accounts.add_user(role=Role.ADMIN, is_active=False)
    with pytest.raises(NotAuthenticated):
        await BrowseTables(uow=accounts.uow, browser=browser).execute(
            BrowseTablesCommand(actor_id=admin.id)
        )
    with pytest.raises(NotAuthenticated):
        await ReadAuditLog(uow=accounts.uow).execute(ReadAuditLogCommand(actor_id=admin.id))


async def test_unknown_table_is_not_found(accounts: Accounts, browser: FakeDatabaseBrowser) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)
    for table in ("nope", "course; DROP TABLE course", "alembic_version"):
        with pytest.raises(NotFound):
            await BrowseRows(uow=accounts.uow, browser=browser).execute(
                BrowseRowsCommand(actor_id=admin.id, table=table)
            )
    assert browser.calls == []


@pytest.mark.parametrize(
    "changes",
    [
        {"limit": 0},
        {"limit": MAX_ROWS + 1},
        {"offset": -1},
        {"start": datetime(2025, 1, 1, tzinfo=UTC).replace(tzinfo=None)},
        {"end": datetime(2025, 1, 1, tzinfo=UTC).replace(tzinfo=None)},
        {"search": "x" * 201},
    ],
)
async def test_bad_row_queries_are_invalid(
    accounts: Accounts, browser: FakeDatabaseBrowser, changes: dict[str, object]
) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)
    command = BrowseRowsCommand(actor_id=admin.id, table="course", **changes)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await BrowseRows(uow=accounts.uow, browser=browser).execute(command)
    assert browser.calls == []


async def test_limits_at_the_edges_pass(accounts: Accounts, browser: FakeDatabaseBrowser) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)
    use_case = BrowseRows(uow=accounts.uow, browser=browser)
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    for limit in (1, MAX_ROWS):
        await use_case.execute(
            BrowseRowsCommand(
                actor_id=admin.id, table="room", limit=limit, start=moment, end=moment
            )
        )
    assert [call["limit"] for call in browser.calls] == [1, MAX_ROWS]
    blank = await use_case.execute(BrowseRowsCommand(actor_id=admin.id, table="room", search=" "))
    assert blank == []
    assert browser.calls[-1]["search"] is None


# --- ReadAuditLog --------------------------------------------------------------------------


async def _record(accounts: Accounts, *actions: str) -> None:
    for action in actions:
        async with accounts.uow() as uow:
            await uow.audit.record(
                actor_id=None, action=action, target_type="user", target_id="x", details={"n": 1}
            )
            await uow.commit()


async def test_audit_log_newest_first_paged_and_filtered(accounts: Accounts) -> None:
    admin = await accounts.add_user(role=Role.SUPER_ADMIN)
    await _record(accounts, "user.created", "course.deleted", "user.created", "user.deleted")
    use_case = ReadAuditLog(uow=accounts.uow)

    page = await use_case.execute(ReadAuditLogCommand(actor_id=admin.id))
    assert page.total == 4
    assert [e.action for e in page.items] == [
        "user.deleted",
        "user.created",
        "course.deleted",
        "user.created",
    ]
    assert page.items[0].details == {"n": 1}

    second = await use_case.execute(ReadAuditLogCommand(actor_id=admin.id, offset=1, limit=2))
    assert [e.id for e in second.items] == [e.id for e in page.items[1:3]]
    assert second.total == 4

    created = await use_case.execute(
        ReadAuditLogCommand(actor_id=admin.id, action=" user.created ")
    )
    assert created.total == 2
    assert {e.action for e in created.items} == {"user.created"}


async def test_uncommitted_events_are_not_listed(accounts: Accounts) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)
    async with accounts.uow() as uow:
        await uow.audit.record(actor_id=None, action="x", target_type="t", target_id="1")
    page = await ReadAuditLog(uow=accounts.uow).execute(ReadAuditLogCommand(actor_id=admin.id))
    assert page.total == 0
    assert page.items == []


@pytest.mark.parametrize(
    "changes", [{"limit": 0}, {"limit": MAX_PAGE + 1}, {"offset": -1}, {"action": "a" * 65}]
)
async def test_bad_audit_queries_are_invalid(
    accounts: Accounts, changes: dict[str, object]
) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)
    command = ReadAuditLogCommand(actor_id=admin.id, **changes)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await ReadAuditLog(uow=accounts.uow).execute(command)


async def test_start_after_end_selects_nothing_rather_than_failing(
    accounts: Accounts, browser: FakeDatabaseBrowser
) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)
    command = BrowseRowsCommand(
        actor_id=admin.id,
        table="course",
        start=datetime(2025, 1, 2, tzinfo=UTC),
        end=datetime(2025, 1, 1, tzinfo=UTC),
    )
    await BrowseRows(uow=accounts.uow, browser=browser).execute(command)
    assert len(browser.calls) == 1
