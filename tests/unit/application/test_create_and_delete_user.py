import pytest

from coagent.application.accounts.create_user import (
    AccountFactory,
    CreateUser,
    CreateUserCommand,
    NewAccount,
)
from coagent.application.accounts.delete_user import DeleteUser, DeleteUserCommand
from coagent.application.ports.repositories import StoredImage
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio
PASSWORD = "a fine long password"


@pytest.fixture
def create(accounts: Accounts) -> CreateUser:
    factory = AccountFactory(hasher=accounts.hasher, clock=accounts.clock, ids=accounts.ids)
    return CreateUser(uow=accounts.uow, accounts=factory)


@pytest.fixture
def delete(accounts: Accounts) -> DeleteUser:
    return DeleteUser(uow=accounts.uow, sessions=accounts.sessions)


def new(actor: User, **fields: object) -> CreateUserCommand:
    account = {"email": "new@example.com", "password": PASSWORD, **fields}
    return CreateUserCommand(actor_id=actor.id, account=NewAccount(**account))  # type: ignore[arg-type]


# --- CreateUser ---------------------------------------------------------------------------------


async def test_an_admin_creates_an_account(accounts: Accounts, create: CreateUser) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)

    user = await create.execute(
        new(admin, email=" New@Example.COM ", username="NewUser", full_name="  New  ")
    )

    assert accounts.user(user.id) == user
    assert (user.email, user.username, user.full_name) == ("new@example.com", "newuser", "New")
    assert (user.role, user.is_active, user.avatar_url) == (Role.GUEST, True, None)
    assert user.password_hash == f"plain:{PASSWORD}"
    assert user.created_at == user.updated_at == accounts.clock.now()
    [event] = accounts.store.audit
    assert (event.actor_id, event.action, event.target_id) == (
        admin.id,
        "user.created",
        str(user.id),
    )
    assert event.details == {"role": "guest", "via": "api"}


async def test_an_account_may_be_created_inactive(accounts: Accounts, create: CreateUser) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)

    user = await create.execute(new(admin, is_active=False, role=Role.TEACHER))

    assert (accounts.user(user.id).is_active, accounts.user(user.id).role) == (False, Role.TEACHER)


@pytest.mark.parametrize(
    ("actor_role", "new_role", "allowed"),
    [
        (Role.TEACHER, Role.STUDENT, False),
        (Role.TA, Role.GUEST, False),
        (Role.ADMIN, Role.TEACHER, True),
        (Role.ADMIN, Role.ADMIN, False),
        (Role.ADMIN, Role.SUPER_ADMIN, False),
        (Role.SUPER_ADMIN, Role.ADMIN, True),
        (Role.SUPER_ADMIN, Role.SUPER_ADMIN, True),
    ],
)
async def test_who_creates_which_role(
    accounts: Accounts, create: CreateUser, actor_role: Role, new_role: Role, allowed: bool
) -> None:
    actor = await accounts.add_user(role=actor_role)

    if allowed:
        assert (await create.execute(new(actor, role=new_role))).role is new_role
    else:
        with pytest.raises(Forbidden):
            await create.execute(new(actor, role=new_role))
        assert [u.id for u in accounts.store.users.values()] == [actor.id]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": "TAKEN@example.com"}, Conflict),
        ({"username": "Taken"}, Conflict),
        ({"email": "not an email"}, InvalidInput),
        ({"username": "x"}, InvalidInput),
        ({"password": "short"}, InvalidInput),
    ],
    ids=["taken-email", "taken-username", "bad-email", "bad-username", "weak-password"],
)
async def test_invalid_or_duplicate_accounts_are_refused(
    accounts: Accounts, create: CreateUser, fields: dict[str, str], error: type[Exception]
) -> None:
    await accounts.add_user(email="taken@example.com", username="taken")
    admin = await accounts.add_user(role=Role.ADMIN)

    with pytest.raises(error):
        await create.execute(new(admin, **fields))

    assert len(accounts.store.users) == 2
    assert accounts.store.audit == []
    assert accounts.hasher.calls == []


async def test_a_deactivated_admin_creates_nothing(accounts: Accounts, create: CreateUser) -> None:
    admin = await accounts.add_user(role=Role.ADMIN, is_active=False)

    with pytest.raises(NotAuthenticated):
        await create.execute(new(admin))


# --- DeleteUser ---------------------------------------------------------------------------------


async def test_an_admin_deletes_an_account_with_its_sessions_and_avatar(
    accounts: Accounts, delete: DeleteUser
) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)
    student = await accounts.add_user(email="gone@example.com")
    session = await accounts.open_session(student)
    accounts.store.avatars[student.id] = StoredImage(
        file_name="a.png", content_type="image/png", data=b"..."
    )

    deleted = await delete.execute(DeleteUserCommand(actor_id=admin.id, user_id=student.id))

    assert deleted == student
    assert student.id not in accounts.store.users
    assert session.session_id not in accounts.store.sessions
    assert student.id not in accounts.store.avatars
    assert session.session_id in accounts.revocations.revoked
    [event] = accounts.store.audit
    assert (event.actor_id, event.action, event.target_id) == (
        admin.id,
        "user.deleted",
        str(student.id),
    )
    assert event.details == {"email": "gone@example.com", "role": "student"}


@pytest.mark.parametrize(
    ("actor_role", "target_role", "allowed"),
    [
        (Role.TEACHER, Role.STUDENT, False),
        (Role.ADMIN, Role.TEACHER, True),
        (Role.ADMIN, Role.ADMIN, False),
        (Role.ADMIN, Role.SUPER_ADMIN, False),
        (Role.SUPER_ADMIN, Role.ADMIN, True),
        (Role.SUPER_ADMIN, Role.SUPER_ADMIN, True),
    ],
)
async def test_who_deletes_whom(
    accounts: Accounts, delete: DeleteUser, actor_role: Role, target_role: Role, allowed: bool
) -> None:
    actor = await accounts.add_user(role=actor_role)
    target = await accounts.add_user(role=target_role)
    command = DeleteUserCommand(actor_id=actor.id, user_id=target.id)

    if allowed:
        await delete.execute(command)
    else:
        with pytest.raises(Forbidden):
            await delete.execute(command)
    assert (target.id in accounts.store.users) is not allowed


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPER_ADMIN])
async def test_nobody_deletes_themselves(
    accounts: Accounts, delete: DeleteUser, role: Role
) -> None:
    me = await accounts.add_user(role=role)

    with pytest.raises(Forbidden):
        await delete.execute(DeleteUserCommand(actor_id=me.id, user_id=me.id))

    assert me.id in accounts.store.users


async def test_deleting_an_unknown_account_is_not_found(
    accounts: Accounts, delete: DeleteUser
) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)

    with pytest.raises(NotFound):
        await delete.execute(DeleteUserCommand(actor_id=admin.id, user_id=accounts.ids.new_id()))
