from typing import Any

import pytest

from coagent.application.accounts.update_user import UpdateUser, UpdateUserCommand
from coagent.application.partial import KEEP
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from tests.fakes.factories import DEFAULT_PASSWORD
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def update(accounts: Accounts) -> UpdateUser:
    return UpdateUser(uow=accounts.uow, hasher=accounts.hasher, sessions=accounts.sessions)


def change(actor: User, target: User, **fields: Any) -> UpdateUserCommand:
    return UpdateUserCommand(actor_id=actor.id, user_id=target.id, **fields)


# --- one's own account --------------------------------------------------------------------------


async def test_own_profile_fields_are_normalised_and_saved(
    accounts: Accounts, update: UpdateUser
) -> None:
    me = await accounts.add_user(email="me@example.com", username="me")
    session = await accounts.open_session(me)

    updated = await update.execute(change(me, me, full_name="  Ada L. ", username=" Ada.L "))

    assert (updated.full_name, updated.username) == ("Ada L.", "ada.l")
    assert accounts.user(me.id) == updated
    # A profile change keeps the sessions and is not audited.
    assert accounts.session(session.session_id).revoked_at is None
    assert accounts.store.audit == []


async def test_clearing_the_username(accounts: Accounts, update: UpdateUser) -> None:
    me = await accounts.add_user(username="me")

    assert (await update.execute(change(me, me, username=""))).username is None
    assert accounts.user(me.id).username is None


async def test_none_clears_the_name_and_username_keep_leaves_them(
    accounts: Accounts, update: UpdateUser
) -> None:
    me = await accounts.add_user(username="me", full_name="Ada")

    kept = await update.execute(change(me, me, full_name=KEEP, username=KEEP))
    cleared = await update.execute(change(me, me, full_name=None, username=None))

    assert (kept.full_name, kept.username) == ("Ada", "me")
    assert (cleared.full_name, cleared.username) == (None, None)
    assert accounts.user(me.id) == cleared


async def test_no_change_writes_nothing(accounts: Accounts, update: UpdateUser) -> None:
    me = await accounts.add_user(email="me@example.com", username="me")
    commits = accounts.store.commits

    result = await update.execute(change(me, me, username="ME", email="Me@Example.com"))

    assert result == me
    assert accounts.store.commits == commits


@pytest.mark.parametrize("role", list(Role))
async def test_nobody_changes_their_own_role(
    accounts: Accounts, update: UpdateUser, role: Role
) -> None:
    me = await accounts.add_user(role=role)
    other_role = Role.GUEST if role is not Role.GUEST else Role.STUDENT

    with pytest.raises(Forbidden):
        await update.execute(change(me, me, role=other_role))

    assert accounts.user(me.id).role is role


@pytest.mark.parametrize(
    "fields",
    [{"is_active": False}, {"email": "new@example.com"}],
    ids=["deactivate-self", "change-own-email"],
)
async def test_status_and_email_are_not_self_service(
    accounts: Accounts, update: UpdateUser, fields: dict[str, Any]
) -> None:
    me = await accounts.add_user(role=Role.SUPER_ADMIN)

    with pytest.raises(Forbidden):
        await update.execute(change(me, me, **fields))

    assert accounts.user(me.id) == me


@pytest.mark.parametrize(
    ("current", "message"),
    [(None, "required"), ("not my password", "not correct")],
    ids=["missing", "wrong"],
)
async def test_own_password_change_needs_the_current_password(
    accounts: Accounts, update: UpdateUser, current: str | None, message: str
) -> None:
    me = await accounts.add_user()

    with pytest.raises(InvalidInput, match=message):
        await update.execute(change(me, me, password=NEW_PASSWORD, current_password=current))

    assert accounts.user(me.id).password_hash == me.password_hash


async def test_own_password_change_revokes_every_session(
    accounts: Accounts, update: UpdateUser
) -> None:
    me = await accounts.add_user()
    sessions = [await accounts.open_session(me) for _ in range(2)]

    await update.execute(change(me, me, password=NEW_PASSWORD, current_password=DEFAULT_PASSWORD))

    assert accounts.user(me.id).password_hash == f"plain:{NEW_PASSWORD}"
    assert set(accounts.revocations.revoked) == {s.session_id for s in sessions}
    assert all(accounts.session(s.session_id).revoked_at for s in sessions)


async def test_a_weak_new_password_is_refused(accounts: Accounts, update: UpdateUser) -> None:
    me = await accounts.add_user()

    with pytest.raises(InvalidInput, match="at least 8"):
        await update.execute(change(me, me, password="short", current_password=DEFAULT_PASSWORD))


# --- someone else's account ----------------------------------------------------------------------


@pytest.mark.parametrize("actor_role", [Role.GUEST, Role.STUDENT, Role.TA, Role.TEACHER])
async def test_non_admins_may_not_edit_others(
    accounts: Accounts, update: UpdateUser, actor_role: Role
) -> None:
    actor, target = await accounts.add_user(role=actor_role), await accounts.add_user()

    with pytest.raises(Forbidden):
        await update.execute(change(actor, target, full_name="Hacked"))

    assert accounts.user(target.id).full_name is None


@pytest.mark.parametrize("target_role", [Role.ADMIN, Role.SUPER_ADMIN])
@pytest.mark.parametrize(
    "fields",
    [{"full_name": "X"}, {"password": NEW_PASSWORD}, {"is_active": False}, {"role": Role.GUEST}],
    ids=["name", "password", "deactivate", "demote"],
)
async def test_an_admin_may_not_touch_admins(
    accounts: Accounts, update: UpdateUser, target_role: Role, fields: dict[str, Any]
) -> None:
    admin, target = (
        await accounts.add_user(role=Role.ADMIN),
        await accounts.add_user(role=target_role),
    )

    with pytest.raises(Forbidden):
        await update.execute(change(admin, target, **fields))

    assert accounts.user(target.id) == target


@pytest.mark.parametrize("new_role", [Role.ADMIN, Role.SUPER_ADMIN])
async def test_an_admin_may_not_grant_admin_roles(
    accounts: Accounts, update: UpdateUser, new_role: Role
) -> None:
    admin, teacher = (
        await accounts.add_user(role=Role.ADMIN),
        await accounts.add_user(role=Role.TEACHER),
    )

    with pytest.raises(Forbidden, match="role"):
        await update.execute(change(admin, teacher, role=new_role))

    assert accounts.user(teacher.id).role is Role.TEACHER


async def test_a_super_admin_manages_admins(accounts: Accounts, update: UpdateUser) -> None:
    root = await accounts.add_user(role=Role.SUPER_ADMIN)
    admin = await accounts.add_user(role=Role.ADMIN)
    teacher = await accounts.add_user(role=Role.TEACHER)

    await update.execute(change(root, admin, role=Role.SUPER_ADMIN, full_name="Second Root"))
    await update.execute(change(root, teacher, role=Role.ADMIN))

    assert accounts.user(admin.id).role is Role.SUPER_ADMIN
    assert accounts.user(admin.id).full_name == "Second Root"
    assert accounts.user(teacher.id).role is Role.ADMIN


async def test_an_admin_sets_a_password_without_the_current_one(
    accounts: Accounts, update: UpdateUser
) -> None:
    admin, student = (
        await accounts.add_user(role=Role.ADMIN),
        await accounts.add_user(role=Role.STUDENT),
    )

    await update.execute(change(admin, student, password=NEW_PASSWORD))

    assert accounts.user(student.id).password_hash == f"plain:{NEW_PASSWORD}"
    assert ("verify", DEFAULT_PASSWORD) not in accounts.hasher.calls


@pytest.mark.parametrize(
    ("fields", "action", "details"),
    [
        ({"role": Role.TA}, "user.role_changed", {"role": "ta"}),
        ({"is_active": False}, "user.status_changed", {"is_active": "False"}),
        (
            {"role": Role.TA, "is_active": False},
            "user.role_changed",
            {"role": "ta", "is_active": "False"},
        ),
        ({"password": NEW_PASSWORD}, None, None),
    ],
    ids=["role", "deactivation", "both", "password"],
)
async def test_sensitive_changes_revoke_sessions_and_are_audited(
    accounts: Accounts,
    update: UpdateUser,
    fields: dict[str, Any],
    action: str | None,
    details: dict[str, str] | None,
) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)
    student = await accounts.add_user(role=Role.STUDENT)
    theirs = await accounts.open_session(student)
    mine = await accounts.open_session(admin)

    await update.execute(change(admin, student, **fields))

    assert set(accounts.revocations.revoked) == {theirs.session_id}
    assert accounts.session(theirs.session_id).revoked_at is not None
    assert accounts.session(mine.session_id).revoked_at is None
    if action is None:
        assert accounts.store.audit == []
    else:
        [event] = accounts.store.audit
        assert (event.actor_id, event.action, event.target_id) == (
            admin.id,
            action,
            str(student.id),
        )
        assert event.details == details


@pytest.mark.parametrize(
    "fields",
    [{"username": "TAKEN"}, {"email": "Taken@Example.com"}],
    ids=["username", "email"],
)
async def test_taken_username_or_email_is_a_conflict(
    accounts: Accounts, update: UpdateUser, fields: dict[str, Any]
) -> None:
    await accounts.add_user(email="taken@example.com", username="taken")
    admin = await accounts.add_user(role=Role.ADMIN)
    student = await accounts.add_user()

    with pytest.raises(Conflict):
        await update.execute(change(admin, student, **fields))

    assert accounts.user(student.id) == student


async def test_an_admin_changes_someone_elses_email(accounts: Accounts, update: UpdateUser) -> None:
    admin, student = await accounts.add_user(role=Role.ADMIN), await accounts.add_user()

    await update.execute(change(admin, student, email=" New@Example.com "))

    assert accounts.user(student.id).email == "new@example.com"


async def test_unknown_target_is_not_found(accounts: Accounts, update: UpdateUser) -> None:
    admin = await accounts.add_user(role=Role.ADMIN)
    ghost = accounts.ids.new_id()

    with pytest.raises(NotFound):
        await update.execute(UpdateUserCommand(actor_id=admin.id, user_id=ghost, full_name="X"))


async def test_a_deactivated_actor_is_not_authenticated(
    accounts: Accounts, update: UpdateUser
) -> None:
    admin = await accounts.add_user(role=Role.ADMIN, is_active=False)
    student = await accounts.add_user()

    with pytest.raises(NotAuthenticated):
        await update.execute(change(admin, student, full_name="X"))
