import itertools

import pytest

from coagent.domain.accounts.roles import Role

RANKED = [Role.GUEST, Role.STUDENT, Role.TA, Role.TEACHER, Role.ADMIN, Role.SUPER_ADMIN]


def test_declaration_order_is_rank_order() -> None:
    assert list(Role) == RANKED
    assert [role.rank for role in RANKED] == list(range(len(RANKED)))


@pytest.mark.parametrize(("role", "other"), list(itertools.product(RANKED, RANKED)))
def test_at_least_follows_rank(role: Role, other: Role) -> None:
    assert role.at_least(other) is (RANKED.index(role) >= RANKED.index(other))


@pytest.mark.parametrize(
    ("role", "is_staff", "is_admin"),
    [
        (Role.GUEST, False, False),
        (Role.STUDENT, False, False),
        (Role.TA, True, False),
        (Role.TEACHER, True, False),
        (Role.ADMIN, True, True),
        (Role.SUPER_ADMIN, True, True),
    ],
)
def test_staff_and_admin_thresholds(role: Role, is_staff: bool, is_admin: bool) -> None:
    assert role.is_staff is is_staff
    assert role.is_admin is is_admin


def test_roles_round_trip_through_their_wire_values() -> None:
    assert [Role(role.value) for role in RANKED] == RANKED
    assert Role("super_admin") is Role.SUPER_ADMIN
    with pytest.raises(ValueError, match="owner"):
        Role("owner")
