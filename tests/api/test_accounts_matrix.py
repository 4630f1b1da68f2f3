"""/api/v1/login and /api/v1/users (and the avatars they serve): every operation by every caller.

The callers are those of the other matrices (`CALLERS`): anonymous, a guest, the course's
student, TA (course role; global role student), co-teacher, owner, another course's teacher and
student, an admin and a super_admin. Every (operation, caller) pair is one test case with the exact
status the product rules give it (docs/authorization.md and the account policy).

These operations act on accounts, not on one course, so the world is built once for the module
(one app, one database) instead of once per case: the cases never spoil it. What a case changes is
its own: accounts it deletes, promotes or creates are fresh ones; the session it logs out, refreshes
or ends is a fresh login of the caller; and "log out everywhere" signs the caller in again.
"""

import asyncio
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest
import redis
from litestar.testing import TestClient

from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.main.app import create_app
from tests.api.conftest import (
    CALLERS,
    PASSWORD,
    Session,
    World,
    create_course,
    enroll,
    login,
    matrix_cases,
    seed_user,
    signed_in,
)
from tests.api.test_users import png_bytes
from tests.conftest import REDIS_TEST_URL, _truncate, _unavailable, make_settings

LOGIN = "/api/v1/login"
USERS = "/api/v1/users"
_numbers = itertools.count()

# --- one app and one world for the whole module --------------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory, pg_url: str) -> Iterator[TestClient[Any]]:
    """Overrides the per-test client: one app for the module, on the same database and Redis."""
    store = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        store.flushdb()
    except redis.RedisError as error:
        _unavailable("Redis", error)
    asyncio.run(_truncate(pg_url))
    settings = make_settings(
        tmp_path_factory.mktemp("accounts_matrix"),
        DATABASE_URL=pg_url,
        REDIS_URL=REDIS_TEST_URL,
        ALLOWED_ORIGINS="https://app.example",
    )
    try:
        with TestClient(app=create_app(settings), base_url="http://testserver.local") as test:
            yield test
    finally:
        asyncio.run(_truncate(pg_url))
        store.flushdb()
        store.close()


@dataclass
class Accounts:
    world: World
    plain: User  # a student in no course: the target of the user-specific operations
    peer_admin: User  # another admin
    peer_super_admin: User  # another super_admin
    inactive: User  # a deactivated student
    avatar_path: str  # a stored avatar (the plain student's)


@pytest.fixture(scope="module")
def accounts(client) -> Accounts:
    """The world of tests/api/conftest.py, plus the target accounts of this matrix."""
    sessions = {
        "guest": signed_in(client, Role.GUEST),
        "student": signed_in(client, Role.STUDENT),
        "ta": signed_in(client, Role.STUDENT),
        "co_teacher": signed_in(client, Role.TEACHER),
        "owner": signed_in(client, Role.TEACHER),
        "other_teacher": signed_in(client, Role.TEACHER),
        "other_student": signed_in(client, Role.STUDENT),
        "admin": signed_in(client, Role.ADMIN),
        "super_admin": signed_in(client, Role.SUPER_ADMIN),
    }
    owner = sessions["owner"]
    course_id = create_course(client, owner, "Ethics 101")
    for name, role in (("student", "student"), ("ta", "ta"), ("co_teacher", "teacher")):
        enroll(client, owner, course_id, sessions[name].user.id, role)
    other = create_course(client, sessions["other_teacher"], "Other course")
    enroll(client, sessions["other_teacher"], other, sessions["other_student"].user.id, "student")
    newcomer = seed_user(client, Role.GUEST)
    plain = signed_in(client, Role.STUDENT)
    uploaded = client.post(
        f"{USERS}/me/avatar",
        files={"file": ("a.png", png_bytes(), "image/png")},
        headers=plain.headers,
    )
    assert uploaded.status_code == 200, uploaded.text
    return Accounts(
        world=World(course_id=course_id, sessions=sessions, newcomer_id=str(newcomer.id)),
        plain=plain.user,
        peer_admin=seed_user(client, Role.ADMIN),
        peer_super_admin=seed_user(client, Role.SUPER_ADMIN),
        inactive=seed_user(client, Role.STUDENT, active=False),
        avatar_path=uploaded.json()["avatar_url"],
    )


@pytest.fixture(autouse=True)
def _bearer_only(client) -> Iterator[None]:
    """Cookies set by one case (login, refresh) never authenticate the next one."""
    client.cookies.clear()
    yield
    client.cookies.clear()


# --- the matrix ------------------------------------------------------------------------------


@dataclass
class Case:
    """One caller calling one row's operation."""

    client: TestClient[Any]
    accounts: Accounts
    caller: str
    row: "Row"

    @property
    def session(self) -> Session | None:
        return None if self.caller == "anonymous" else self.accounts.world.sessions[self.caller]

    @property
    def user(self) -> User | None:
        return None if self.session is None else self.session.user

    def fresh_session(self) -> Session | None:
        """Another session of the caller's account, for a case that ends or rotates it."""
        return None if self.user is None else login(self.client, self.user)

    def send(self, **kwargs: Any) -> httpx.Response:
        """The row's request as the caller; path parameters and the body come as keywords."""
        return self.send_as(self.session, **kwargs)

    def send_as(self, session: Session | None, **kwargs: Any) -> httpx.Response:
        """The row's request with another session of the caller's (None: no credentials)."""
        headers = {} if session is None else session.headers
        params = {k: str(kwargs.pop(k)) for k in ("user_id", "file_name") if k in kwargs}
        path = self.row.path.format(**params)
        return self.client.request(self.row.method, path, headers=headers, **kwargs)


Send = Callable[[Case], httpx.Response]


@dataclass(frozen=True)
class Row:
    operation_id: str
    method: str
    path: str  # as the OpenAPI document spells it
    expected: tuple[int, ...]  # in the order of CALLERS
    send: Send


def by_caller(default: int, *, anonymous: int = 401, **overrides: int) -> tuple[int, ...]:
    """Statuses in the order of CALLERS: `default` unless the caller is named."""
    unknown = overrides.keys() - set(CALLERS)
    assert not unknown, unknown
    statuses = {"anonymous": anonymous, **overrides}
    return tuple(statuses.get(caller, default) for caller in CALLERS)


EVERYONE_SIGNED_IN = by_caller(200)
ADMINS = by_caller(403, admin=200, super_admin=200)
SUPER_ADMIN = by_caller(403, super_admin=200)
NOBODY = by_caller(403)

ROWS: dict[str, Row] = {}


def row(name: str, operation_id: str, method: str, path: str, expected: tuple[int, ...]):
    def register(send: Send) -> Send:
        assert name not in ROWS, name
        assert len(expected) == len(CALLERS), name
        ROWS[name] = Row(operation_id, method, path, expected, send)
        return send

    return register


def _new_email() -> str:
    return f"made{next(_numbers)}-{uuid4().hex[:8]}@example.test"


def _not_my_role(case: Case) -> str:
    """A role the caller does not have: the top one, or admin for a super_admin."""
    mine = case.user.role if case.user else None
    return Role.ADMIN.value if mine is Role.SUPER_ADMIN else Role.SUPER_ADMIN.value


def _self_or_plain(case: Case):
    return case.user.id if case.user else case.accounts.plain.id


# --- /api/v1/login ---------------------------------------------------------------------------


@row("login", "login_access_token", "POST", f"{LOGIN}/access-token", by_caller(200, anonymous=200))
def _login(case: Case) -> httpx.Response:
    # Everyone may log in, with their own account (anonymous: the plain student's).
    user = case.user or case.accounts.plain
    return case.send(data={"username": user.email, "password": PASSWORD})


@row(
    "login_wrong_password",
    "login_access_token",
    "POST",
    f"{LOGIN}/access-token",
    by_caller(400, anonymous=400),
)
def _login_wrong_password(case: Case) -> httpx.Response:
    user = case.user or case.accounts.plain
    return case.send(data={"username": user.email, "password": "not the password"})


@row("refresh", "login_refresh", "POST", f"{LOGIN}/refresh", EVERYONE_SIGNED_IN)
def _refresh(case: Case) -> httpx.Response:
    # Signed in: a refresh token of a fresh session of theirs; anonymous: no token at all.
    fresh = case.fresh_session()
    body = {} if fresh is None else {"refresh_token": fresh.refresh_token}
    return case.send(json=body)


@row("logout", "login_logout", "POST", f"{LOGIN}/logout", by_caller(200, anonymous=200))
def _logout(case: Case) -> httpx.Response:
    return case.send_as(case.fresh_session())  # "always succeeds"


@row("logout_all", "login_logout_all", "POST", f"{LOGIN}/logout-all", EVERYONE_SIGNED_IN)
def _logout_all(case: Case) -> httpx.Response:
    response = case.send()
    if case.user is not None:  # every session of theirs is gone: sign in again for later cases
        case.accounts.world.sessions[case.caller] = login(case.client, case.user)
    return response


@row("test_token", "login_test_token", "POST", f"{LOGIN}/test-token", by_caller(200, anonymous=403))
def _test_token(case: Case) -> httpx.Response:
    return case.send()  # 403, not 401, without a session: the original client's redirect loop


@row("session", "login_session", "GET", f"{LOGIN}/session", EVERYONE_SIGNED_IN)
def _session(case: Case) -> httpx.Response:
    return case.send()


IMPERSONATE = f"{LOGIN}/impersonate/{{user_id}}"


@row("impersonate", "login_impersonate", "POST", IMPERSONATE, SUPER_ADMIN)
def _impersonate(case: Case) -> httpx.Response:
    return case.send(user_id=case.accounts.plain.id)


@row("impersonate_super_admin", "login_impersonate", "POST", IMPERSONATE, NOBODY)
def _impersonate_super_admin(case: Case) -> httpx.Response:
    return case.send(user_id=case.accounts.peer_super_admin.id)


@row("impersonate_inactive", "login_impersonate", "POST", IMPERSONATE, NOBODY)
def _impersonate_inactive(case: Case) -> httpx.Response:
    return case.send(user_id=case.accounts.inactive.id)


@row(
    "impersonate_missing", "login_impersonate", "POST", IMPERSONATE, by_caller(403, super_admin=404)
)
def _impersonate_missing(case: Case) -> httpx.Response:
    # Only a super_admin may impersonate at all, so only a super_admin learns the id is absent.
    return case.send(user_id=uuid4())


@row(
    "stop_impersonate",
    "login_stop_impersonate",
    "POST",
    f"{LOGIN}/stop-impersonate",
    by_caller(409, super_admin=200),
)
def _stop_impersonate(case: Case) -> httpx.Response:
    # Everyone calls it from their own session, which is no impersonation (409); only a
    # super_admin can open one, so its case stops one it opened from a fresh session of its own.
    if case.caller != "super_admin":
        return case.send()
    fresh = case.fresh_session()
    assert fresh is not None
    started = case.client.post(
        IMPERSONATE.format(user_id=case.accounts.plain.id), headers=fresh.headers
    )
    assert started.status_code == 200, started.text
    case.client.cookies.clear()
    acting = Session(
        user=case.accounts.plain, access_token=started.json()["access_token"], refresh_token=""
    )
    return case.send_as(acting)


# --- /api/v1/users ---------------------------------------------------------------------------

ONE_USER = f"{USERS}/{{user_id}}"


@row("read_me", "users_read_me", "GET", f"{USERS}/me", EVERYONE_SIGNED_IN)
def _read_me(case: Case) -> httpx.Response:
    return case.send()


@row("update_me", "users_update_me", "PUT", f"{USERS}/me", EVERYONE_SIGNED_IN)
def _update_me(case: Case) -> httpx.Response:
    return case.send(json={"full_name": f"Renamed {case.caller}"})


@row("update_me_role", "users_update_me", "PUT", f"{USERS}/me", NOBODY)
def _update_me_role(case: Case) -> httpx.Response:
    return case.send(json={"role": _not_my_role(case)})  # nobody changes their own role


@row("upload_avatar", "users_upload_avatar", "POST", f"{USERS}/me/avatar", EVERYONE_SIGNED_IN)
def _upload_avatar(case: Case) -> httpx.Response:
    return case.send(files={"file": ("me.png", png_bytes(), "image/png")})


@row("list", "users_list", "GET", USERS, ADMINS)
def _list(case: Case) -> httpx.Response:
    return case.send(params={"limit": 5})


@row("create", "users_create", "POST", USERS, by_caller(403, admin=201, super_admin=201))
def _create(case: Case) -> httpx.Response:
    return case.send(json={"email": _new_email(), "password": PASSWORD, "role": "student"})


@row("create_admin", "users_create", "POST", USERS, by_caller(403, super_admin=201))
def _create_admin(case: Case) -> httpx.Response:
    return case.send(json={"email": _new_email(), "password": PASSWORD, "role": "admin"})


@row(
    "create_taken_email", "users_create", "POST", USERS, by_caller(403, admin=409, super_admin=409)
)
def _create_taken_email(case: Case) -> httpx.Response:
    body = {"email": case.accounts.plain.email, "password": PASSWORD, "role": "student"}
    return case.send(json=body)


@row(
    "search",
    "users_search",
    "GET",
    f"{USERS}/search",
    # Global staff only (TA and above): it follows the global role. A course TA who is a
    # student globally enrolls by email or id. What each caller finds: the test below.
    by_caller(200, guest=403, student=403, ta=403, other_student=403),
)
def _search(case: Case) -> httpx.Response:
    return case.send(params={"q": "example"})


@row("update", "users_update", "PUT", ONE_USER, ADMINS)
def _update(case: Case) -> httpx.Response:
    return case.send(user_id=case.accounts.plain.id, json={"full_name": f"Set by {case.caller}"})


@row("update_role", "users_update", "PUT", ONE_USER, ADMINS)
def _update_role(case: Case) -> httpx.Response:
    target = seed_user(case.client, Role.STUDENT)
    return case.send(user_id=target.id, json={"role": "teacher"})


@row("update_role_to_admin", "users_update", "PUT", ONE_USER, SUPER_ADMIN)
def _update_role_to_admin(case: Case) -> httpx.Response:
    target = seed_user(case.client, Role.STUDENT)
    return case.send(user_id=target.id, json={"role": "admin"})


@row("update_an_admin", "users_update", "PUT", ONE_USER, SUPER_ADMIN)
def _update_an_admin(case: Case) -> httpx.Response:
    return case.send(
        user_id=case.accounts.peer_admin.id, json={"full_name": f"Set by {case.caller}"}
    )


@row("update_own_role", "users_update", "PUT", ONE_USER, NOBODY)
def _update_own_role(case: Case) -> httpx.Response:
    return case.send(user_id=_self_or_plain(case), json={"role": _not_my_role(case)})


@row("update_missing", "users_update", "PUT", ONE_USER, by_caller(403, admin=404, super_admin=404))
def _update_missing(case: Case) -> httpx.Response:
    return case.send(user_id=uuid4(), json={"full_name": "Nobody"})


@row("delete", "users_delete", "DELETE", ONE_USER, ADMINS)
def _delete(case: Case) -> httpx.Response:
    return case.send(user_id=seed_user(case.client, Role.STUDENT).id)


@row("delete_an_admin", "users_delete", "DELETE", ONE_USER, SUPER_ADMIN)
def _delete_an_admin(case: Case) -> httpx.Response:
    return case.send(user_id=seed_user(case.client, Role.ADMIN).id)


@row("delete_self", "users_delete", "DELETE", ONE_USER, NOBODY)
def _delete_self(case: Case) -> httpx.Response:
    return case.send(user_id=_self_or_plain(case))


@row(
    "delete_missing", "users_delete", "DELETE", ONE_USER, by_caller(403, admin=404, super_admin=404)
)
def _delete_missing(case: Case) -> httpx.Response:
    return case.send(user_id=uuid4())


# --- avatars (tagged `users`) ----------------------------------------------------------------

AVATAR = "/static/avatars/{file_name}"


@row("avatar", "avatars_read", "GET", AVATAR, by_caller(200, anonymous=200))
def _avatar(case: Case) -> httpx.Response:
    return case.send(file_name=case.accounts.avatar_path.rsplit("/", 1)[1])


@row("avatar_missing", "avatars_read", "GET", AVATAR, by_caller(404, anonymous=404))
def _avatar_missing(case: Case) -> httpx.Response:
    return case.send(file_name=f"{uuid4().hex}.png")


CASES = matrix_cases({name: r.expected for name, r in ROWS.items()})


@pytest.mark.parametrize(("endpoint", "caller", "status"), CASES)
def test_every_operation_by_every_caller(client, accounts, endpoint, caller, status):
    row_ = ROWS[endpoint]
    response = row_.send(Case(client, accounts, caller, row_))
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["detail"]


@pytest.mark.parametrize(
    ("caller", "browses"),
    [
        ("co_teacher", False),
        ("owner", False),
        ("other_teacher", False),
        ("admin", True),
        ("super_admin", True),
    ],
)
def test_search_finds_only_whom_the_caller_may_enroll(client, accounts, caller, browses):
    """Admins search by prefix; other staff find one account by its exact email or username,
    never an admin account (so never an admin's email or role).
    """
    headers = accounts.world.sessions[caller].headers
    plain, root = accounts.plain, accounts.peer_super_admin

    def found(query: str) -> list[str]:
        response = client.get(f"{USERS}/search", params={"q": query}, headers=headers)
        assert response.status_code == 200, response.text
        if not browses:
            for secret in (root.email, accounts.peer_admin.email):
                assert secret not in response.text
            assert {user["role"] for user in response.json()} <= {
                "guest",
                "student",
                "ta",
                "teacher",
            }
        return [user["id"] for user in response.json()]

    assert found(plain.email.upper()) == [str(plain.id)]
    assert (str(plain.id) in found(plain.email[:-4])) is browses  # a prefix
    assert found(root.email) == ([str(root.id)] if browses else [])
    assert found(accounts.peer_admin.email) == ([str(accounts.peer_admin.id)] if browses else [])
    assert (str(root.id) in found("super_admin")) is browses


def _documented(client) -> dict[str, tuple[str, str]]:
    """operationId -> (method, path) of every login and users operation in the document."""
    document = client.get("/api/v1/openapi.json").json()
    found: dict[str, tuple[str, str]] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "delete", "patch", "head", "options"}:
                continue
            ours = path.startswith((LOGIN, USERS)) or {"login", "users"} & set(
                operation.get("tags", [])
            )
            if ours:
                found[operation["operationId"]] = (method.upper(), path)
    return found


def test_the_matrix_walks_every_login_and_users_operation(client):
    documented = _documented(client)
    walked = {r.operation_id for r in ROWS.values()}
    assert documented.keys() - walked == set(), "operations missing from the matrix"
    assert walked - documented.keys() == set(), "matrix rows for operations that are gone"
    for name, r in ROWS.items():
        assert documented[r.operation_id] == (r.method, r.path), name
