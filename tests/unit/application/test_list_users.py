import pytest

from coagent.application.accounts.list_users import MAX_PAGE, ListUsers, ListUsersCommand
from coagent.application.accounts.search_users import (
    MAX_SEARCH_RESULTS,
    SearchUsers,
    SearchUsersCommand,
)
from coagent.domain.accounts.roles import Role
from coagent.domain.errors import Forbidden, InvalidInput, NotAuthenticated
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio


@pytest.fixture
def list_users(accounts: Accounts) -> ListUsers:
    return ListUsers(uow=accounts.uow)


@pytest.fixture
def search_users(accounts: Accounts) -> SearchUsers:
    return SearchUsers(uow=accounts.uow)


# --- ListUsers ----------------------------------------------------------------------------------


async def test_admins_page_through_accounts_oldest_first(
    accounts: Accounts, list_users: ListUsers
) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)
    others = [await accounts.add_user() for _ in range(4)]

    page = await list_users.execute(ListUsersCommand(actor_id=admin.id, offset=1, limit=2))

    assert page.total == 5
    assert [u.id for u in page.items] == [others[0].id, others[1].id]


@pytest.mark.parametrize("search", ["ZED", "  zed  "])
async def test_search_matches_email_username_or_name_in_any_case(
    accounts: Accounts, list_users: ListUsers, search: str
) -> None:
    admin = await accounts.add_user(role=Role.SUPER_ADMIN)
    by_email = await accounts.add_user(email="zed@example.com", username="one")
    by_name = await accounts.add_user(full_name="Zedd Smith")
    await accounts.add_user(email="other@example.com", username="other")

    page = await list_users.execute(ListUsersCommand(actor_id=admin.id, search=search))

    assert [u.id for u in page.items] == [by_email.id, by_name.id]
    assert page.total == 2


async def test_a_blank_search_lists_everyone(accounts: Accounts, list_users: ListUsers) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)
    await accounts.add_user()

    page = await list_users.execute(ListUsersCommand(actor_id=admin.id, search="   "))

    assert page.total == 2


@pytest.mark.parametrize(
    ("offset", "limit"), [(-1, 10), (0, 0), (0, MAX_PAGE + 1)], ids=["negative", "zero", "huge"]
)
async def test_list_bounds(
    accounts: Accounts, list_users: ListUsers, offset: int, limit: int
) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)

    with pytest.raises(InvalidInput, match=str(MAX_PAGE)):
        await list_users.execute(ListUsersCommand(actor_id=admin.id, offset=offset, limit=limit))
    page = await list_users.execute(ListUsersCommand(actor_id=admin.id, limit=MAX_PAGE))
    assert page.total == 1


@pytest.mark.parametrize("role", [Role.GUEST, Role.STUDENT, Role.TA, Role.TEACHER])
async def test_only_admins_list_accounts(
    accounts: Accounts, list_users: ListUsers, role: Role
) -> None:
    actor = await accounts.add_user(role=role)

    with pytest.raises(Forbidden):
        await list_users.execute(ListUsersCommand(actor_id=actor.id))


# --- SearchUsers --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPER_ADMIN])
async def test_admins_search_by_prefix_over_every_active_account(
    accounts: Accounts, search_users: SearchUsers, role: Role
) -> None:
    admin = await accounts.add_user(role=role, email="staff@example.com", username="staff")
    ann = await accounts.add_user(email="ann@school.org", username="ann", full_name="Ann Lee")
    lee = await accounts.add_user(email="x@school.org", username="annex", full_name="Lee Ann")
    other = await accounts.add_user(email="anna@school.org", username="zz", role=Role.ADMIN)
    await accounts.add_user(email="joanne@school.org", username="jo", full_name="Jo Banne")
    await accounts.add_user(email="ann.gone@school.org", username="anngone", is_active=False)
    await accounts.add_user(email="bob@school.org", username="bob", full_name="Bobann")

    found = await search_users.execute(SearchUsersCommand(actor_id=admin.id, query=" ANN "))

    assert [u.id for u in found] == [ann.id, other.id, lee.id]  # by email
    by_word = await search_users.execute(SearchUsersCommand(actor_id=admin.id, query="lee"))
    assert [u.id for u in by_word] == [ann.id, lee.id]


@pytest.mark.parametrize("role", [Role.TA, Role.TEACHER])
async def test_course_staff_find_only_the_exact_email_or_username(
    accounts: Accounts, search_users: SearchUsers, role: Role
) -> None:
    staff = await accounts.add_user(role=role, email="staff@example.com", username="staff")
    ann = await accounts.add_user(email="ann@school.org", username="ann", full_name="Ann Lee")
    await accounts.add_user(email="anna@school.org", username="anna")

    async def search(query: str) -> list[object]:
        found = await search_users.execute(SearchUsersCommand(actor_id=staff.id, query=query))
        return [u.id for u in found]

    assert await search(" ANN@School.org ") == [ann.id]
    assert await search("Ann") == [ann.id]  # the exact username
    for partial in ("an", "ann@", "school.org", "Ann Lee", "lee", "ann%"):
        assert await search(partial) == [], partial


@pytest.mark.parametrize("role", [Role.TA, Role.TEACHER])
async def test_course_staff_never_find_admins_or_inactive_accounts(
    accounts: Accounts, search_users: SearchUsers, role: Role
) -> None:
    staff = await accounts.add_user(role=role)
    admin = await accounts.add_user(role=Role.ADMIN, email="admin@school.org", username="boss")
    root = await accounts.add_user(role=Role.SUPER_ADMIN, email="root@school.org")
    await accounts.add_user(email="gone@school.org", is_active=False)

    for query in (admin.email, "boss", root.email, "gone@school.org"):
        found = await search_users.execute(SearchUsersCommand(actor_id=staff.id, query=query))
        assert found == [], query
    as_admin = await search_users.execute(SearchUsersCommand(actor_id=admin.id, query="root@"))
    assert [u.id for u in as_admin] == [root.id]


async def test_search_results_are_bounded(accounts: Accounts, search_users: SearchUsers) -> None:
    admin = await accounts.add_user(role=Role.ADMIN, email="t@example.org")
    for _ in range(5):
        await accounts.add_user()

    found = await search_users.execute(SearchUsersCommand(actor_id=admin.id, query="user", limit=3))

    assert len(found) == 3


@pytest.mark.parametrize(
    ("query", "limit", "message"),
    [
        ("a", 10, "at least 2"),
        ("  a  ", 10, "at least 2"),
        ("ann", 0, "limit"),
        ("ann", MAX_SEARCH_RESULTS + 1, "limit"),
    ],
)
async def test_search_bounds(
    accounts: Accounts, search_users: SearchUsers, query: str, limit: int, message: str
) -> None:
    teacher = await accounts.add_user(role=Role.TEACHER)

    with pytest.raises(InvalidInput, match=message):
        await search_users.execute(
            SearchUsersCommand(actor_id=teacher.id, query=query, limit=limit)
        )


@pytest.mark.parametrize(
    ("role", "active", "error"),
    [
        (Role.GUEST, True, Forbidden),
        (Role.STUDENT, True, Forbidden),
        (Role.TEACHER, False, NotAuthenticated),
    ],
)
async def test_students_and_guests_cannot_search_people(
    accounts: Accounts,
    search_users: SearchUsers,
    role: Role,
    active: bool,
    error: type[Exception],
) -> None:
    actor = await accounts.add_user(role=role, is_active=active)

    with pytest.raises(error):
        await search_users.execute(SearchUsersCommand(actor_id=actor.id, query="example"))
