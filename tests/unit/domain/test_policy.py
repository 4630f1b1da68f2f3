"""The account policy table, checked for every actor role against every target role."""

import itertools

import pytest

from coagent.domain.accounts import policy
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from tests.fakes.factories import UserFactory

G, S, TA, T, A, SA = Role.GUEST, Role.STUDENT, Role.TA, Role.TEACHER, Role.ADMIN, Role.SUPER_ADMIN
BELOW_ADMIN = {G, S, TA, T}
NOBODY: set[Role] = set()

# actor role -> roles of *other* accounts it may edit or delete
MANAGEABLE = {G: NOBODY, S: NOBODY, TA: NOBODY, T: NOBODY, A: BELOW_ADMIN, SA: set(Role)}
# actor role -> roles it may give
GRANTABLE = {G: NOBODY, S: NOBODY, TA: NOBODY, T: NOBODY, A: BELOW_ADMIN, SA: set(Role)}
IMPERSONABLE = {G: NOBODY, S: NOBODY, TA: NOBODY, T: NOBODY, A: NOBODY, SA: set(Role) - {SA}}
ADMINISTRATORS = {A, SA}
STAFF = {TA, T, A, SA}

PAIRS = list(itertools.product(Role, Role))


def user(role: Role, *, active: bool = True) -> User:
    return UserFactory.build(role=role, is_active=active)


@pytest.mark.parametrize(("actor_role", "target_role"), PAIRS)
def test_may_edit_another_account(actor_role: Role, target_role: Role) -> None:
    allowed = target_role in MANAGEABLE[actor_role]
    assert policy.may_edit(user(actor_role), user(target_role)) is allowed


@pytest.mark.parametrize(("actor_role", "target_role"), PAIRS)
def test_may_delete_another_account(actor_role: Role, target_role: Role) -> None:
    allowed = target_role in MANAGEABLE[actor_role]
    assert policy.may_delete(user(actor_role), user(target_role)) is allowed


@pytest.mark.parametrize(("actor_role", "target_role"), PAIRS)
def test_may_grant_role_to_another_account(actor_role: Role, target_role: Role) -> None:
    actor, target = user(actor_role), user(target_role)
    granted = {role for role in Role if policy.may_grant_role(actor, target, role)}
    assert granted == (GRANTABLE[actor_role] if target_role in MANAGEABLE[actor_role] else set())


@pytest.mark.parametrize("actor_role", list(Role))
def test_may_grant_role_on_a_new_account(actor_role: Role) -> None:
    actor = user(actor_role)
    granted = {role for role in Role if policy.may_grant_role(actor, None, role)}
    assert granted == GRANTABLE[actor_role]


@pytest.mark.parametrize(("actor_role", "target_role"), PAIRS)
def test_may_impersonate(actor_role: Role, target_role: Role) -> None:
    allowed = target_role in IMPERSONABLE[actor_role]
    assert policy.may_impersonate(user(actor_role), user(target_role)) is allowed


@pytest.mark.parametrize("target_role", sorted(BELOW_ADMIN | {A}))
def test_nobody_impersonates_an_inactive_account(target_role: Role) -> None:
    assert not policy.may_impersonate(user(SA), user(target_role, active=False))


@pytest.mark.parametrize("role", list(Role))
def test_may_search_people_and_administer_users(role: Role) -> None:
    actor = user(role)
    assert policy.may_search_people(actor) is (role in STAFF)
    assert policy.may_administer_users(actor) is (role in ADMINISTRATORS)


@pytest.mark.parametrize("role", list(Role))
def test_self_actions(role: Role) -> None:
    me = user(role)
    assert policy.may_edit(me, me), "everyone edits their own profile"
    assert not policy.may_delete(me, me)
    assert not policy.may_impersonate(me, me)
    assert not any(policy.may_grant_role(me, me, new_role) for new_role in Role)


@pytest.mark.parametrize("role", list(Role))
def test_an_inactive_actor_may_do_nothing_to_others(role: Role) -> None:
    actor = user(role, active=False)
    target = user(G)
    assert not policy.may_administer_users(actor)
    assert not policy.may_search_people(actor)
    assert not policy.may_edit(actor, target)
    assert not policy.may_delete(actor, target)
    assert not policy.may_impersonate(actor, target)
    assert not any(policy.may_grant_role(actor, None, new_role) for new_role in Role)
    assert not any(policy.may_grant_role(actor, target, new_role) for new_role in Role)


def test_the_same_account_is_recognised_by_id_not_by_object() -> None:
    me = user(A)
    reloaded = me.with_changes(full_name="Renamed")
    assert not policy.may_delete(me, reloaded)
    assert not policy.may_grant_role(me, reloaded, G)
