import anyio
import pytest

from coagent.application.accounts.bootstrap_super_admin import (
    BOOTSTRAP_KEY,
    BootstrapSuperAdmin,
    BootstrapSuperAdminCommand,
)
from coagent.application.accounts.create_admin import CreateAdmin, CreateAdminCommand
from coagent.application.accounts.create_user import AccountFactory
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.errors import Conflict, InvalidInput
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio
PASSWORD = "first start password"


@pytest.fixture
def factory(accounts: Accounts) -> AccountFactory:
    return AccountFactory(hasher=accounts.hasher, clock=accounts.clock, ids=accounts.ids)


@pytest.fixture
def bootstrap(accounts: Accounts, factory: AccountFactory) -> BootstrapSuperAdmin:
    return BootstrapSuperAdmin(uow=accounts.uow, accounts=factory)


def command(login: str = "root", password: str = PASSWORD) -> BootstrapSuperAdminCommand:
    return BootstrapSuperAdminCommand(login=login, password=password)


def super_admins(accounts: Accounts) -> list[User]:
    return [u for u in accounts.store.users.values() if u.role is Role.SUPER_ADMIN]


@pytest.mark.parametrize(
    ("login", "email", "username"),
    [
        (" Root ", "root@localhost", "root"),
        ("Boss@Example.com", "boss@example.com", None),
    ],
    ids=["username", "email"],
)
async def test_first_start_creates_one_super_admin(
    accounts: Accounts, bootstrap: BootstrapSuperAdmin, login: str, email: str, username: str
) -> None:
    created = await bootstrap.execute(command(login))

    assert created is not None
    assert super_admins(accounts) == [created]
    assert (created.email, created.username, created.is_active) == (email, username, True)
    assert created.password_hash == f"plain:{PASSWORD}"
    assert BOOTSTRAP_KEY in accounts.store.system
    [event] = accounts.store.audit
    assert (event.action, event.actor_id, event.details) == (
        "user.created",
        None,
        {"role": "super_admin", "via": "bootstrap"},
    )


async def test_later_starts_do_nothing_and_never_reset_the_password(
    accounts: Accounts, bootstrap: BootstrapSuperAdmin
) -> None:
    created = await bootstrap.execute(command())
    assert created is not None

    assert await bootstrap.execute(command(password="a different password")) is None
    assert await bootstrap.execute(command(login="someone-else")) is None

    assert list(accounts.store.users.values()) == [created]


async def test_an_existing_super_admin_means_nothing_is_created(
    accounts: Accounts, bootstrap: BootstrapSuperAdmin
) -> None:
    existing = await accounts.add_user(role=Role.SUPER_ADMIN)

    assert await bootstrap.execute(command()) is None

    assert list(accounts.store.users.values()) == [existing]
    # The step is marked done: deleting that admin later does not re-open the door.
    assert BOOTSTRAP_KEY in accounts.store.system


async def test_an_existing_account_with_that_login_is_never_touched(
    accounts: Accounts, bootstrap: BootstrapSuperAdmin
) -> None:
    teacher = await accounts.add_user(
        email="root@localhost", username="root", role=Role.TEACHER, password="teacher's own pw"
    )

    with pytest.raises(Conflict):
        await bootstrap.execute(command("root"))

    assert accounts.store.users == {teacher.id: teacher}
    # Nothing was committed, so a corrected configuration can still bootstrap.
    assert BOOTSTRAP_KEY not in accounts.store.system
    assert accounts.store.audit == []


@pytest.mark.parametrize(
    ("login", "password"),
    [("root", "short"), ("not a username", PASSWORD), ("   ", PASSWORD)],
    ids=["weak-password", "bad-login", "blank-login"],
)
async def test_invalid_settings_claim_nothing(
    accounts: Accounts, bootstrap: BootstrapSuperAdmin, login: str, password: str
) -> None:
    with pytest.raises(InvalidInput):
        await bootstrap.execute(command(login, password))

    assert not accounts.store.users
    assert BOOTSTRAP_KEY not in accounts.store.system


async def test_processes_starting_together_create_exactly_one(
    accounts: Accounts, bootstrap: BootstrapSuperAdmin
) -> None:
    results: list[User | None] = []

    async def start() -> None:
        results.append(await bootstrap.execute(command()))

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(start)

    created = [user for user in results if user is not None]
    assert len(created) == 1
    assert super_admins(accounts) == created


# --- CreateAdmin (CLI) --------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPER_ADMIN])
async def test_the_cli_creates_admins(
    accounts: Accounts, factory: AccountFactory, role: Role
) -> None:
    create_admin = CreateAdmin(uow=accounts.uow, accounts=factory)

    user = await create_admin.execute(
        CreateAdminCommand(email="ops@example.com", password=PASSWORD, role=role)
    )

    assert accounts.user(user.id).role is role
    assert accounts.store.audit[0].details == {"role": str(role), "via": "cli"}


async def test_the_cli_refuses_non_admin_roles_and_existing_accounts(
    accounts: Accounts, factory: AccountFactory
) -> None:
    create_admin = CreateAdmin(uow=accounts.uow, accounts=factory)
    existing = await accounts.add_user(email="ops@example.com", role=Role.STUDENT)

    with pytest.raises(InvalidInput, match="admin"):
        await create_admin.execute(
            CreateAdminCommand(email="new@example.com", password=PASSWORD, role=Role.TEACHER)
        )
    with pytest.raises(Conflict):
        await create_admin.execute(CreateAdminCommand(email="ops@example.com", password=PASSWORD))

    assert accounts.store.users == {existing.id: existing}
