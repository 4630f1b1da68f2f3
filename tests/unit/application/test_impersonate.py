from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from coagent.application.accounts.authenticate import Authenticate
from coagent.application.accounts.impersonate import Impersonate, ImpersonateCommand
from coagent.application.accounts.refresh_session import RefreshSession, RefreshSessionCommand
from coagent.application.accounts.sessions import IssuedTokens
from coagent.application.accounts.stop_impersonating import (
    StopImpersonating,
    StopImpersonatingCommand,
)
from coagent.application.accounts.update_user import UpdateUser, UpdateUserCommand
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.errors import Conflict, Forbidden, NotAuthenticated, NotFound
from tests.unit.application.conftest import Accounts

pytestmark = pytest.mark.anyio


@pytest.fixture
def impersonate(accounts: Accounts) -> Impersonate:
    return Impersonate(uow=accounts.uow, sessions=accounts.sessions)


@pytest.fixture
def stop(accounts: Accounts) -> StopImpersonating:
    return StopImpersonating(uow=accounts.uow, sessions=accounts.sessions, clock=accounts.clock)


@dataclass
class Scene:
    root: User
    root_session: IssuedTokens
    student: User


@pytest.fixture
async def scene(accounts: Accounts) -> Scene:
    root = await accounts.add_user(role=Role.SUPER_ADMIN)
    return Scene(
        root=root,
        root_session=await accounts.open_session(root),
        student=await accounts.add_user(role=Role.STUDENT),
    )


async def start(impersonate: Impersonate, scene: Scene, target: User | None = None) -> IssuedTokens:
    return await impersonate.execute(
        ImpersonateCommand(
            actor_id=scene.root.id,
            actor_session_id=scene.root_session.session_id,
            target_id=(target or scene.student).id,
        )
    )


# --- Impersonate --------------------------------------------------------------------------------


async def test_a_super_admin_acts_as_a_student_for_a_short_while(
    accounts: Accounts, impersonate: Impersonate, scene: Scene
) -> None:
    issued = await start(impersonate, scene)

    principal = await Authenticate(
        tokens=accounts.tokens, revocations=accounts.revocations
    ).execute(issued.access_token)
    assert (principal.user_id, principal.role) == (scene.student.id, Role.STUDENT)
    assert principal.impersonator_id == issued.impersonator_id == scene.root.id
    session = accounts.session(issued.session_id)
    assert session.impersonator_id == scene.root.id
    assert session.original_session_id == scene.root_session.session_id
    assert session.expires_at == accounts.clock.now() + timedelta(hours=1)
    assert issued.refresh_expires_in == 3600
    [event] = accounts.store.audit
    assert (event.actor_id, event.action, event.target_id) == (
        scene.root.id,
        "impersonation.started",
        str(scene.student.id),
    )
    assert event.details == {"session_id": str(issued.session_id)}


@pytest.mark.parametrize("actor_role", [Role.TEACHER, Role.ADMIN])
async def test_only_a_super_admin_impersonates(
    accounts: Accounts, impersonate: Impersonate, scene: Scene, actor_role: Role
) -> None:
    actor = await accounts.add_user(role=actor_role)
    session = await accounts.open_session(actor)

    with pytest.raises(Forbidden):
        await impersonate.execute(
            ImpersonateCommand(
                actor_id=actor.id,
                actor_session_id=session.session_id,
                target_id=scene.student.id,
            )
        )

    assert len(accounts.store.sessions) == 2


@pytest.mark.parametrize(
    "target_fields",
    [{"role": Role.SUPER_ADMIN}, {"role": Role.TEACHER, "is_active": False}],
    ids=["another-super-admin", "inactive-account"],
)
async def test_some_accounts_cannot_be_impersonated(
    accounts: Accounts, impersonate: Impersonate, scene: Scene, target_fields: dict[str, Any]
) -> None:
    target = await accounts.add_user(**target_fields)

    with pytest.raises(Forbidden):
        await start(impersonate, scene, target)

    assert accounts.store.audit == []


async def test_nobody_impersonates_themselves(impersonate: Impersonate, scene: Scene) -> None:
    with pytest.raises(Forbidden):
        await start(impersonate, scene, scene.root)


async def test_impersonating_an_unknown_account_is_not_found(
    accounts: Accounts, impersonate: Impersonate, scene: Scene
) -> None:
    ghost = replace(scene.student, id=accounts.ids.new_id())

    with pytest.raises(NotFound):
        await start(impersonate, scene, ghost)


async def test_no_impersonation_from_inside_an_impersonation(
    accounts: Accounts, impersonate: Impersonate, scene: Scene
) -> None:
    first = await start(impersonate, scene)
    other = await accounts.add_user()

    with pytest.raises(Forbidden, match="Stop"):
        await impersonate.execute(
            ImpersonateCommand(
                actor_id=scene.root.id, actor_session_id=first.session_id, target_id=other.id
            )
        )


# --- StopImpersonating --------------------------------------------------------------------------


async def test_stop_returns_to_the_original_session(
    accounts: Accounts, impersonate: Impersonate, stop: StopImpersonating, scene: Scene
) -> None:
    acting = await start(impersonate, scene)

    back = await stop.execute(StopImpersonatingCommand(session_id=acting.session_id))

    assert (back.user.id, back.session_id) == (scene.root.id, scene.root_session.session_id)
    assert back.impersonator_id is None
    claims = accounts.tokens.decode_access(back.access_token)
    assert (claims.user_id, claims.role, claims.impersonator_id) == (
        scene.root.id,
        Role.SUPER_ADMIN,
        None,
    )
    assert accounts.session(acting.session_id).revoked_at is not None
    assert acting.session_id in accounts.revocations.revoked
    assert accounts.session(scene.root_session.session_id).revoked_at is None
    assert accounts.store.actions() == ["impersonation.started", "impersonation.stopped"]


def _revoke_original(accounts: Accounts, scene: Scene) -> None:
    session = accounts.session(scene.root_session.session_id)
    accounts.store.sessions[session.id] = replace(session, revoked_at=accounts.clock.now())


def _change_root(**changes: object) -> Callable[[Accounts, Scene], None]:
    def apply(accounts: Accounts, scene: Scene) -> None:
        accounts.store.users[scene.root.id] = scene.root.with_changes(**changes)

    return apply


def _expire_original(accounts: Accounts, scene: Scene) -> None:
    accounts.clock.advance(days=15)


@pytest.mark.parametrize(
    "spoil",
    [
        _revoke_original,
        _expire_original,
        _change_root(role=Role.ADMIN),
        _change_root(is_active=False),
    ],
    ids=["original-revoked", "original-expired", "admin-demoted", "admin-deactivated"],
)
async def test_stop_does_not_restore_a_session_that_is_no_longer_valid(
    accounts: Accounts,
    impersonate: Impersonate,
    stop: StopImpersonating,
    scene: Scene,
    spoil: Callable[[Accounts, Scene], None],
) -> None:
    acting = await start(impersonate, scene)
    original_jti = accounts.session(scene.root_session.session_id).refresh_jti
    spoil(accounts, scene)

    with pytest.raises(NotAuthenticated, match="log in again"):
        await stop.execute(StopImpersonatingCommand(session_id=acting.session_id))

    # The impersonation still ends, is audited, and the original is left as it was.
    assert accounts.session(acting.session_id).revoked_at is not None
    assert acting.session_id in accounts.revocations.revoked
    assert accounts.store.actions()[-1] == "impersonation.stopped"
    assert accounts.session(scene.root_session.session_id).refresh_jti == original_jti


async def test_stop_outside_an_impersonation_is_a_conflict(
    accounts: Accounts, stop: StopImpersonating, scene: Scene
) -> None:
    with pytest.raises(Conflict):
        await stop.execute(StopImpersonatingCommand(session_id=scene.root_session.session_id))

    assert accounts.session(scene.root_session.session_id).revoked_at is None


async def test_stopping_twice_does_not_hand_out_a_second_admin_session(
    impersonate: Impersonate, stop: StopImpersonating, scene: Scene
) -> None:
    acting = await start(impersonate, scene)
    await stop.execute(StopImpersonatingCommand(session_id=acting.session_id))

    with pytest.raises((NotAuthenticated, Conflict)):
        await stop.execute(StopImpersonatingCommand(session_id=acting.session_id))


async def _deactivate_root(accounts: Accounts, scene: Scene) -> None:
    other_root = await accounts.add_user(role=Role.SUPER_ADMIN)
    update = UpdateUser(uow=accounts.uow, hasher=accounts.hasher, sessions=accounts.sessions)
    await update.execute(
        UpdateUserCommand(actor_id=other_root.id, user_id=scene.root.id, is_active=False)
    )


@pytest.mark.parametrize("use", ["refresh", "access"])
async def test_deactivating_a_super_admin_ends_their_impersonations(
    accounts: Accounts, impersonate: Impersonate, scene: Scene, use: str
) -> None:
    acting = await start(impersonate, scene)

    await _deactivate_root(accounts, scene)

    attempt: Awaitable[object]
    if use == "refresh":
        refresh = RefreshSession(
            uow=accounts.uow,
            tokens=accounts.tokens,
            sessions=accounts.sessions,
            clock=accounts.clock,
        )
        attempt = refresh.execute(RefreshSessionCommand(refresh_token=acting.refresh_token))
    else:
        authenticate = Authenticate(tokens=accounts.tokens, revocations=accounts.revocations)
        attempt = authenticate.execute(acting.access_token)
    with pytest.raises(NotAuthenticated):
        await attempt
