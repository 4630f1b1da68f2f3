"""Who may change which account, and how. Pure decisions; callers raise on `False`.

The table, for an actor acting on a target account:

| action                       | allowed when                                                          |
|------------------------------|-----------------------------------------------------------------------|
| list / create / delete users | actor is admin or super_admin                                         |
| create or delete an admin    | actor is super_admin                                                  |
| edit own profile             | always (name, username, password with the current one, avatar)        |
| edit another account         | actor is admin and target is below admin, or actor is super_admin     |
| change a role                | never one's own; only to a role an admin may grant (below admin);     |
|                              | super_admin grants any role                                           |
| delete an account            | never one's own                                                       |
| impersonate                  | actor is super_admin; target is active and not a super_admin          |
| search people (to enroll)    | actor is staff (TA or above)                                          |
"""

from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User


def may_administer_users(actor: User) -> bool:
    return actor.is_active and actor.role.is_admin


def may_edit(actor: User, target: User) -> bool:
    """Edit another account's profile fields (not its role: see `may_grant_role`)."""
    if actor.id == target.id:
        return True
    if not may_administer_users(actor):
        return False
    return actor.role is Role.SUPER_ADMIN or not target.role.is_admin


def may_grant_role(actor: User, target: User | None, role: Role) -> bool:
    """Give `role` to `target` (None: an account being created)."""
    if target is not None and actor.id == target.id:
        return False
    if not may_administer_users(actor):
        return False
    if actor.role is Role.SUPER_ADMIN:
        return True
    return not role.is_admin and (target is None or not target.role.is_admin)


def may_delete(actor: User, target: User) -> bool:
    if actor.id == target.id or not may_administer_users(actor):
        return False
    return actor.role is Role.SUPER_ADMIN or not target.role.is_admin


def may_impersonate(actor: User, target: User) -> bool:
    return (
        actor.is_active
        and actor.role is Role.SUPER_ADMIN
        and actor.id != target.id
        and target.is_active
        and target.role is not Role.SUPER_ADMIN
    )


def may_search_people(actor: User) -> bool:
    return actor.is_active and actor.role.is_staff


def may_browse_people(actor: User) -> bool:
    """Prefix search over every account (admins); other staff look people up by exact email
    or username only, so search never lists the platform's accounts to course staff.
    """
    return actor.is_active and actor.role.is_admin


def may_find_in_search(actor: User, target: User) -> bool:
    """Admin accounts are found by admins only: their email and role stay private."""
    return target.is_active and (actor.role.is_admin or not target.role.is_admin)
