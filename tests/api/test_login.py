"""Login, refresh, logout, test-token and token validation over HTTP."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import jwt
import pytest

from coagent.domain.accounts.roles import Role
from coagent.main.settings import Settings
from tests.api.conftest import PASSWORD, container_of, login, seed_user, signed_in
from tests.conftest import TEST_SECRET, make_settings

LOGIN = "/api/v1/login/access-token"
ME = "/api/v1/users/me"


@pytest.fixture
def settings(tmp_path: Path, pg: str, redis_url: str) -> Settings:
    """The production shape, with a first back-off wait long enough that no test can outlast
    it by being slow.
    """
    return make_settings(
        tmp_path,
        DATABASE_URL=pg,
        REDIS_URL=redis_url,
        LOGIN_BACKOFF_FIRST_SECONDS=60,
        LOGIN_BACKOFF_MAX_SECONDS=120,
    )


def _set_cookies(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def test_login_with_form_sets_cookies_and_returns_oauth2_token(client):
    user = seed_user(client)
    response = client.post(LOGIN, data={"username": user.email, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 900
    assert body["access_token"]
    assert body["refresh_token"]
    assert response.headers["cache-control"] == "no-store"
    cookies = _set_cookies(response)
    assert "HttpOnly" in cookies["access_token"]
    assert "Path=/" in cookies["access_token"]
    assert "SameSite=lax" in cookies["access_token"]
    assert "Path=/api/v1/login" in cookies["refresh_token"]
    assert "HttpOnly" in cookies["refresh_token"]


def test_login_with_json_and_username(client):
    user = seed_user(client, username="alice")
    response = client.post(LOGIN, json={"username": "ALICE", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert me.json()["id"] == str(user.id)


@pytest.mark.parametrize("case", ["unknown", "wrong-password", "inactive"])
def test_failed_logins_are_indistinguishable(client, case):
    user = seed_user(client, active=case != "inactive")
    username = "nobody@example.test" if case == "unknown" else user.email
    password = "not the password" if case == "wrong-password" else PASSWORD
    response = client.post(LOGIN, data={"username": username, "password": password})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json() == {
        "title": "Bad Request",
        "status": 400,
        "detail": "Incorrect username/email or password",
        "type": "about:blank",
        "error": "invalid_grant",
    }
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[1, 2]", "application/json"),
        (b"{not json", "application/json"),
        (b'{"username": "a@b.c"}', "application/json"),
        (b"username=a", "text/plain"),
    ],
)
def test_malformed_login_bodies_are_422(client, body, content_type):
    response = client.post(LOGIN, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 422
    assert response.json()["detail"]


def test_login_is_throttled_per_account_with_the_same_answer_for_unknown_users(client):
    user = seed_user(client)
    for _ in range(5):
        wrong = client.post(LOGIN, data={"username": user.email, "password": "wrong password"})
        assert wrong.status_code == 400
        ghost = client.post(LOGIN, data={"username": "ghost@x.test", "password": "whatever1"})
        assert ghost.status_code == 400
    blocked = client.post(LOGIN, data={"username": user.email, "password": PASSWORD})
    ghost = client.post(LOGIN, data={"username": "ghost@x.test", "password": "whatever1"})
    assert blocked.status_code == ghost.status_code == 429
    assert 55 <= int(blocked.headers["retry-after"]) <= 60  # the first back-off wait
    assert blocked.headers["content-type"].startswith("application/problem+json")
    assert blocked.json()["detail"] == ghost.json()["detail"]
    # Another account from the same address is not locked out by these ten failures.
    other = seed_user(client)
    assert (
        client.post(LOGIN, data={"username": other.email, "password": PASSWORD}).status_code == 200
    )


def test_the_email_and_the_username_of_an_account_count_as_one(client):
    user = seed_user(client, username="bea")
    for login_name in (user.email, "BEA", user.email.upper(), "bea", user.email):
        wrong = client.post(LOGIN, data={"username": login_name, "password": "wrong password"})
        assert wrong.status_code == 400
    assert client.post(LOGIN, data={"username": "bea", "password": PASSWORD}).status_code == 429


def test_concurrent_wrong_logins_pass_the_hash_check_at_most_the_limit_times(client):
    user = seed_user(client)
    hasher = container_of(client).hasher
    verified = []
    real_verify = hasher.verify

    async def counting_verify(password_hash, password):  # type: ignore[no-untyped-def]
        verified.append(password)
        return await real_verify(password_hash, password)

    hasher.verify = counting_verify  # type: ignore[method-assign]

    def guess(n: int) -> int:
        body = {"username": user.email, "password": f"wrong guess {n}"}
        return int(client.post(LOGIN, data=body).status_code)

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(guess, range(30)))

    assert sorted(statuses) == [400] * 5 + [429] * 25
    assert len(verified) == 5
    # Even the right password now waits out the back-off.
    assert (
        client.post(LOGIN, data={"username": user.email, "password": PASSWORD}).status_code == 429
    )


def test_successful_login_resets_the_account_counter(client):
    user = seed_user(client)
    for _ in range(4):
        client.post(LOGIN, data={"username": user.email, "password": "wrong password"})
    assert (
        client.post(LOGIN, data={"username": user.email, "password": PASSWORD}).status_code == 200
    )
    for _ in range(4):
        client.post(LOGIN, data={"username": user.email, "password": "wrong password"})
    assert (
        client.post(LOGIN, data={"username": user.email, "password": PASSWORD}).status_code == 200
    )


def _forge(claims: dict, secret: str = TEST_SECRET) -> str:
    now = datetime.now(UTC)
    payload = {
        "iss": "coagent",
        "aud": "coagent-api",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
        "jti": "x",
        "typ": "access",
        "role": "student",
        "sid": str(uuid4()),
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def test_test_token_answers_403_without_a_valid_session_and_every_other_endpoint_401(client):
    session = signed_in(client)
    expired = _forge(
        {
            "sub": str(session.user.id),
            "exp": datetime.now(UTC) - timedelta(minutes=1),
            "iat": datetime.now(UTC) - timedelta(minutes=20),
            "nbf": datetime.now(UTC) - timedelta(minutes=20),
        }
    )
    bad = {
        "missing": {},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "expired": {"Authorization": f"Bearer {expired}"},
        "refresh-as-access": {"Authorization": f"Bearer {session.refresh_token}"},
        "wrong-secret": {
            "Authorization": "Bearer "
            + _forge({"sub": str(session.user.id)}, secret="another-secret-of-enough-length!!")
        },
    }
    for name, headers in bad.items():
        test_token = client.post("/api/v1/login/test-token", headers=headers)
        assert test_token.status_code == 403, name
        me = client.get(ME, headers=headers)
        assert me.status_code == 401, name
        assert me.headers["www-authenticate"].startswith("Bearer")


def test_test_token_returns_the_user_without_secrets(client):
    session = signed_in(client)
    response = client.post("/api/v1/login/test-token", headers=session.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(session.user.id)
    assert not {"password_hash", "hashed_password", "password"} & body.keys()
    assert "argon2" not in response.text


def test_cookie_session_works_like_the_bearer_token(client):
    user = seed_user(client)
    client.post(LOGIN, data={"username": user.email, "password": PASSWORD})
    assert client.get(ME).json()["id"] == str(user.id)
    assert client.post("/api/v1/login/test-token").status_code == 200


def test_refresh_rotates_and_reuse_revokes_the_whole_session(client):
    session = signed_in(client)
    first = client.post("/api/v1/login/refresh", json={"refresh_token": session.refresh_token})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != session.refresh_token
    new_headers = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert client.get(ME, headers=new_headers).status_code == 200

    replay = client.post("/api/v1/login/refresh", json={"refresh_token": session.refresh_token})
    assert replay.status_code == 401
    assert "revoked" in replay.json()["detail"]
    # Theft detected: every token of the session is dead now, the newest included.
    again = client.post("/api/v1/login/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401
    assert client.get(ME, headers=new_headers).status_code == 401
    assert client.get(ME, headers=session.headers).status_code == 401


def test_refresh_through_the_cookie(client):
    user = seed_user(client)
    client.post(LOGIN, data={"username": user.email, "password": PASSWORD})
    response = client.post("/api/v1/login/refresh")
    assert response.status_code == 200
    assert "access_token" in _set_cookies(response)


@pytest.mark.parametrize("kind", ["none", "access-token", "garbage"])
def test_refresh_refuses_anything_but_a_refresh_token(client, kind):
    session = signed_in(client)
    body = {
        "none": {},
        "access-token": {"refresh_token": session.access_token},
        "garbage": {"refresh_token": "abc"},
    }[kind]
    response = client.post("/api/v1/login/refresh", json=body)
    assert response.status_code == 401
    # A failed refresh also clears the browser's cookies, so the client goes to its login page.
    assert "access_token" in _set_cookies(response)


def test_refresh_of_a_deactivated_account_fails(client):
    admin = signed_in(client, Role.ADMIN)
    session = signed_in(client)
    response = client.put(
        f"/api/v1/users/{session.user.id}", json={"is_active": False}, headers=admin.headers
    )
    assert response.status_code == 200
    refreshed = client.post("/api/v1/login/refresh", json={"refresh_token": session.refresh_token})
    assert refreshed.status_code == 401
    assert client.get(ME, headers=session.headers).status_code == 401


def test_logout_revokes_at_once_and_clears_cookies(client):
    user = seed_user(client)
    client.post(LOGIN, data={"username": user.email, "password": PASSWORD})
    access = client.cookies.get("access_token")
    refresh = client.cookies.get("refresh_token")
    response = client.post("/api/v1/login/logout")
    assert response.status_code == 200
    assert response.json() == {"message": "Logged out successfully"}
    cookies = _set_cookies(response)
    for name in ("access_token", "refresh_token", "is_impersonating"):
        assert "Max-Age=0" in cookies[name]
    client.cookies.clear()
    assert client.get(ME, headers={"Authorization": f"Bearer {access}"}).status_code == 401
    refreshed = client.post("/api/v1/login/refresh", json={"refresh_token": refresh})
    assert refreshed.status_code == 401


def test_logout_without_a_session_still_succeeds(client):
    assert client.post("/api/v1/login/logout").status_code == 200


def test_logout_everywhere_ends_every_session(client):
    user = seed_user(client)
    first, second = login(client, user), login(client, user)
    response = client.post("/api/v1/login/logout-all", headers=first.headers)
    assert response.status_code == 200
    assert response.json()["message"] == "Revoked 2 session(s)"
    assert client.get(ME, headers=first.headers).status_code == 401
    assert client.get(ME, headers=second.headers).status_code == 401


def test_session_endpoint_reads_the_token(client):
    session = signed_in(client, Role.TEACHER)
    response = client.get("/api/v1/login/session", headers=session.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == str(session.user.id)
    assert body["role"] == "teacher"
    assert "impersonator_id" not in body or body["impersonator_id"] is None


def test_access_token_claims(client):
    session = signed_in(client)
    claims = jwt.decode(
        session.access_token, TEST_SECRET, algorithms=["HS256"], audience="coagent-api"
    )
    assert {"sub", "exp", "iat", "nbf", "iss", "aud", "jti", "typ", "sid"} <= claims.keys()
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] <= 15 * 60
    assert container_of(client).settings.access_token_ttl == 600
