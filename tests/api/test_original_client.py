"""The original web client's requests, replayed with a browser's headers (reference §7).

The client is served at http://localhost:5173 by its dev server, whose proxy forwards `/api`
to us and rewrites `Host` to our address (`testserver.local` here). The browser sees a single
origin, so it says `Sec-Fetch-Site: same-origin`, and axios (`withCredentials`) sends the
session cookies on every call. An older browser sends no Fetch Metadata.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from coagent.domain.accounts.roles import Role
from coagent.main.settings import Settings
from tests.api.chat_helpers import connect, create_room, next_event
from tests.api.conftest import PASSWORD, Session, create_course, seed_user
from tests.conftest import TEST_SECRET, make_settings

CLIENT = "http://localhost:5173"  # the client's own origin
LOGIN = "/api/v1/login/access-token"
TEST_TOKEN = "/api/v1/login/test-token"
REFRESH = "/api/v1/login/refresh"
COURSES = "/api/v1/courses/"
ROOMS = "/api/v1/rooms/"


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, pg: str, redis_url: str) -> Settings:
    """The production shape without ALLOWED_ORIGINS, plus what a test passes (indirect)."""
    extra: dict[str, Any] = getattr(request, "param", {})
    return make_settings(tmp_path, DATABASE_URL=pg, REDIS_URL=redis_url, **extra)


TRUSTED_PROXY = pytest.mark.parametrize(
    "settings", [{"FORWARDED_ALLOW_IPS": "*"}], indirect=True, ids=["trusted-proxy"]
)


def browser(
    page: str = "/", *, fetch_metadata: bool = True, origin: str = CLIENT, **extra: str
) -> dict[str, str]:
    """The headers Chromium sends on the client's axios calls from `origin` + `page`."""
    headers = {
        "Accept": "application/json, text/plain, */*",
        "Origin": origin,
        "Referer": f"{origin}{page}",
        **extra,
    }
    if fetch_metadata:
        site = "same-origin" if origin == CLIENT else "cross-site"
        headers |= {"Sec-Fetch-Site": site, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    return headers


def client_login(client: TestClient[Any], email: str, **headers: Any) -> Any:
    """The login form: multipart FormData with `username` and `password`."""
    return client.post(
        LOGIN,
        files={"username": (None, email), "password": (None, PASSWORD)},
        headers=browser("/login", **headers),
    )


def logged_in(client: TestClient[Any], role: Role = Role.TEACHER, **headers: Any) -> Session:
    """A user logged in through the client: the session lives in the cookie jar."""
    user = seed_user(client, role)
    response = client_login(client, user.email, **headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return Session(
        user=user, access_token=body["access_token"], refresh_token=body["refresh_token"]
    )


def _cleared(response: Any) -> set[str]:
    """The cookies a response deletes."""
    return {
        header.split("=", 1)[0]
        for header in response.headers.get_list("set-cookie")
        if "Max-Age=0" in header
    }


# --- 1. Enrollment and room assignment, as the client sends them --------------------------

# The client behind its dev server's proxy in a current browser, and served by us directly
# (`Origin` is our host) in a browser without Fetch Metadata.
VARIANTS = {
    "proxied": {},
    "direct-older-browser": {"origin": "http://testserver.local", "fetch_metadata": False},
}


@pytest.fixture(params=VARIANTS.values(), ids=VARIANTS.keys())
def variant(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(request.param)


def _members(client: TestClient[Any], course_id: str, variant: dict[str, Any]) -> set[str]:
    response = client.get(f"{COURSES}{course_id}/members", headers=browser(**variant))
    assert response.status_code == 200, response.text
    return {member["user_id"] for member in response.json()}


def test_enrollment_accepts_what_the_client_sends(client, variant):
    teacher = logged_in(client, **variant)
    course = client.post(
        COURSES, json={"title": "Ethics", "description": ""}, headers=browser("/courses", **variant)
    )
    assert course.status_code == 201, course.text
    course_id = course.json()["id"]
    url = f"{COURSES}{course_id}/enroll"
    picked, typed, by_id, other = (seed_user(client) for _ in range(4))
    page = browser(f"/courses/{course_id}", **variant)

    # A search hit picked in the dialog: both ids, naming the same user.
    response = client.post(
        url,
        json={"user_email": picked.email, "user_id": str(picked.id), "role": "student"},
        headers=page,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"message": f"User {picked.full_name} enrolled as student"}
    # An address typed by hand, and an id alone: the other one is null.
    response = client.post(
        url, json={"user_email": typed.email, "user_id": None, "role": "student"}, headers=page
    )
    assert response.status_code == 200, response.text
    response = client.post(
        url, json={"user_email": None, "user_id": str(by_id.id), "role": "student"}, headers=page
    )
    assert response.status_code == 200, response.text
    assert _members(client, course_id, variant) == {
        str(teacher.user.id),
        str(picked.id),
        str(typed.id),
        str(by_id.id),
    }

    # 422 only when they name different users, or nobody; nothing is written then.
    mismatch = client.post(
        url,
        json={"user_email": other.email, "user_id": str(picked.id), "role": "student"},
        headers=page,
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["detail"] == "user_id and user_email name different users"
    nobody = client.post(
        url, json={"user_email": None, "user_id": None, "role": "student"}, headers=page
    )
    assert nobody.status_code == 422
    assert nobody.json()["detail"] == "Give user_id or user_email"
    assert str(other.id) not in _members(client, course_id, variant)
    # A known id with an unknown address is still two different users.
    stranger = client.post(
        url,
        json={"user_email": "nobody@example.test", "user_id": str(other.id), "role": "student"},
        headers=page,
    )
    assert stranger.status_code == 422
    assert str(other.id) not in _members(client, course_id, variant)


def test_room_assignment_accepts_what_the_client_sends(client, variant):
    logged_in(client, **variant)
    course = client.post(COURSES, json={"title": "Ethics"}, headers=browser(**variant))
    course_id = course.json()["id"]
    room = client.post(
        ROOMS, json={"name": "Debate", "course_id": course_id}, headers=browser(**variant)
    )
    assert room.status_code == 201, room.text
    url = f"{ROOMS}{room.json()['id']}/assign"
    students = [seed_user(client) for _ in range(4)]
    for student in students:
        response = client.post(
            f"{COURSES}{course_id}/enroll",
            json={"user_email": None, "user_id": str(student.id), "role": "student"},
            headers=browser(**variant),
        )
        assert response.status_code == 200, response.text
    first, second, third, fourth = students
    page = browser(f"/courses/{course_id}/rooms", **variant)

    for body in (
        {"user_email": first.email, "user_id": str(first.id)},
        {"user_email": second.email, "user_id": None},
        {"user_email": None, "user_id": str(third.id)},
    ):
        response = client.post(url, json=body, headers=page)
        assert response.status_code == 200, response.text
        assert response.json()["message"].endswith("assigned to room")
    again = client.post(
        url, json={"user_email": first.email, "user_id": str(first.id)}, headers=page
    )
    assert again.json() == {"message": "User already assigned to room"}

    mismatch = client.post(
        url, json={"user_email": fourth.email, "user_id": str(first.id)}, headers=page
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["detail"] == "user_id and user_email name different users"
    nobody = client.post(url, json={"user_email": None, "user_id": None}, headers=page)
    assert nobody.status_code == 422
    # The fourth student was never assigned: assigning them now is new.
    response = client.post(url, json={"user_id": str(fourth.id)}, headers=page)
    assert response.json()["message"].endswith("assigned to room")


def test_the_openapi_document_describes_the_rule(client):
    document = client.get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    for name, path in (
        ("EnrollRequest", "/api/v1/courses/{course_id}/enroll"),
        ("AssignRequest", "/api/v1/rooms/{room_id}/assign"),
    ):
        schema = schemas[name]
        body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": f"#/components/schemas/{name}"}
        for field in ("user_id", "user_email"):
            assert {"type": "null"} in schema["properties"][field]["oneOf"], field
        assert schema.get("required", []) == []
        assert "null" in schema["description"]
        assert "different users" in schema["description"]
        # At least one of them is given and is not null.
        assert {tuple(option["required"]) for option in schema["anyOf"]} == {
            ("user_id",),
            ("user_email",),
        }
        assert all(
            option["properties"][option["required"][0]]["type"] == "string"
            for option in schema["anyOf"]
        )
        # Each alternative is the whole body (generated SDKs make one model per alternative).
        assert all(
            set(option["properties"]) == set(schema["properties"]) for option in schema["anyOf"]
        )
        assert "oneOf" not in schema  # both at once is allowed


# --- 2. Cookie writes through a proxy that rewrites Host -----------------------------------


def test_login_through_a_host_rewriting_proxy(client):
    """Sec-Fetch-Site comes first: the browser saw one origin, so the login works without
    ALLOWED_ORIGINS, and the session cookies then work for every write.
    """
    user = seed_user(client)
    response = client_login(client, user.email)
    assert response.status_code == 200, response.text
    assert client.cookies.get("access_token")
    assert client.post(TEST_TOKEN, headers=browser("/")).json()["id"] == str(user.id)
    renamed = client.put(
        "/api/v1/users/me", json={"full_name": "Renamed"}, headers=browser("/profile")
    )
    assert renamed.status_code == 200, renamed.text
    assert client.post("/api/v1/login/logout", headers=browser("/")).status_code == 200


def test_without_fetch_metadata_the_origin_must_be_ours(client):
    """An older browser: `Origin` is the client's, `Host` the proxy's choice, and the peer
    (the test client) is no trusted proxy, so a forwarded host does not count.
    """
    user = seed_user(client)
    for headers in (
        {},
        {"X-Forwarded-Host": "localhost:5173"},
        {"Forwarded": "host=localhost:5173"},
    ):
        response = client_login(client, user.email, fetch_metadata=False, **headers)
        assert response.status_code == 403, headers
        assert response.json()["detail"] == "Cross-site request refused (origin not allowed)"
        assert "set-cookie" not in response.headers


@TRUSTED_PROXY
def test_without_fetch_metadata_a_trusted_proxy_names_our_host(client):
    user = seed_user(client)
    for headers in (
        {"X-Forwarded-Host": "localhost:5173"},
        {"Forwarded": 'for=127.0.0.1;proto=http;host="localhost:5173"'},
    ):
        client.cookies.clear()
        response = client_login(client, user.email, fetch_metadata=False, **headers)
        assert response.status_code == 200, (headers, response.text)
    # Another host forwarded, or none: the client's origin is not ours.
    for headers in ({"X-Forwarded-Host": "other.example"}, {}):
        response = client_login(client, user.email, fetch_metadata=False, **headers)
        assert response.status_code == 403, headers


@pytest.mark.parametrize(
    "settings",
    [{}, {"FORWARDED_ALLOW_IPS": "*"}],
    indirect=True,
    ids=["untrusted-peer", "trusted-peer"],
)
def test_a_foreign_site_is_refused_through_any_proxy(client):
    """The page at https://evil.example, in a browser with and without Fetch Metadata, with
    and without its `Referer`, through a proxy that forwards our host."""
    user = seed_user(client)
    assert client_login(client, user.email).status_code == 200
    for fetch_metadata in (True, False):
        headers = browser(
            "/attack",
            fetch_metadata=fetch_metadata,
            origin="https://evil.example",
            **{"X-Forwarded-Host": "localhost:5173", "X-Forwarded-Proto": "http"},
        )
        for referer in (True, False):
            if not referer:
                headers.pop("Referer")
            response = client.put("/api/v1/users/me", json={"full_name": "Pwned"}, headers=headers)
            assert response.status_code == 403, (fetch_metadata, referer)
    assert client.get("/api/v1/users/me").json()["full_name"] != "Pwned"


@pytest.mark.parametrize(
    ("settings", "separate"),
    [
        ({"LOGIN_FAILURES_PER_ADDRESS": "2", "LOGIN_FAILURES_PER_ACCOUNT": "50"}, False),
        (
            {
                "LOGIN_FAILURES_PER_ADDRESS": "2",
                "LOGIN_FAILURES_PER_ACCOUNT": "50",
                "FORWARDED_ALLOW_IPS": "*",
            },
            True,
        ),
    ],
    indirect=["settings"],
    ids=["untrusted-peer", "trusted-proxy"],
)
def test_login_throttling_sees_the_address_a_trusted_proxy_forwards(client, separate):
    """As under uvicorn's --proxy-headers: only a trusted peer's X-Forwarded-For counts."""

    def attempt(address: str) -> int:
        response = client.post(
            LOGIN,
            data={"username": "someone@example.test", "password": "wrong"},
            headers={"X-Forwarded-For": address},
        )
        return response.status_code

    assert [attempt("203.0.113.1") for _ in range(3)] == [400, 400, 429]
    assert attempt("203.0.113.2") == (400 if separate else 429)


def test_the_socket_handshake_follows_the_same_rule(client):
    teacher = logged_in(client)
    course_id = create_course(client, teacher, "Ethics")
    room_id = create_room(client, teacher, course_id)
    handshake = {"Origin": CLIENT, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "websocket"}
    _jar(client, access=teacher.access_token)
    with connect(client, room_id, v1=False, headers=handshake) as ws:
        ws.send_text("hello from the original client")  # the original dialect: plain text
        assert next_event(ws)["content"] == "hello from the original client"
    for refused in (
        {"Origin": CLIENT},  # no Fetch Metadata, and the client's origin is not our host
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    ):
        with (
            pytest.raises(WebSocketDisconnect) as refusal,
            connect(client, room_id, headers=refused),
        ):
            pytest.fail(f"accepted: {refused}")
        assert refusal.value.code == 4403, refused


# --- 4. A reload after the access token expired ---------------------------------------------


def _expired_copy(token: str) -> str:
    """The same token (same session, same id), expired a minute ago."""
    claims = jwt.decode(token, options={"verify_signature": False})
    now = datetime.now(UTC)
    claims |= {
        "iat": now - timedelta(days=15),
        "nbf": now - timedelta(days=15),
        "exp": now - timedelta(minutes=1),
    }
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


def _jar(client: TestClient[Any], *, access: str | None = None, refresh: str | None = None) -> None:
    """The browser's cookie jar, holding exactly these session cookies."""
    client.cookies.clear()
    if access is not None:
        client.cookies.set("access_token", access, domain="testserver.local", path="/")
    if refresh is not None:
        client.cookies.set(
            "refresh_token", refresh, domain="testserver.local", path="/api/v1/login"
        )


def _reload(client: TestClient[Any]) -> Any:
    return client.post(TEST_TOKEN, headers=browser("/courses"))


def _refresh(client: TestClient[Any]) -> Any:
    return client.post(REFRESH, headers=browser("/courses"))


@pytest.mark.parametrize("access", ["expired", "missing", "garbage"])
def test_a_reload_after_the_access_token_expired_refreshes(client, access):
    session = logged_in(client, Role.STUDENT)
    stale = {
        "expired": _expired_copy(session.access_token),
        "missing": None,  # the cookie's Max-Age ran out
        "garbage": "garbage",
    }[access]
    _jar(client, access=stale, refresh=session.refresh_token)

    first = _reload(client)
    assert first.status_code == 401
    assert first.headers["www-authenticate"].startswith("Bearer")
    refreshed = _refresh(client)
    assert refreshed.status_code == 200, refreshed.text
    assert {"access_token", "refresh_token"} <= {
        header.split("=", 1)[0] for header in refreshed.headers.get_list("set-cookie")
    }
    again = _reload(client)
    assert again.status_code == 200
    assert again.json()["id"] == str(session.user.id)


@pytest.mark.parametrize("refresh", ["revoked", "expired", "reused", "garbage"])
def test_a_failed_refresh_ends_on_the_login_page(client, refresh):
    """test-token 401 → refresh 401 clearing the cookies → test-token 403: the client shows
    its login form instead of looping.
    """
    session = logged_in(client, Role.STUDENT)
    refresh_token = session.refresh_token
    if refresh == "revoked":  # "log out everywhere" from another device
        bearer = {"Authorization": f"Bearer {session.access_token}"}
        assert client.post("/api/v1/login/logout-all", headers=bearer).status_code == 200
    elif refresh == "expired":
        refresh_token = _expired_copy(session.refresh_token)
    elif refresh == "reused":  # rotated once already (another tab), then replayed
        rotated = client.post(REFRESH, json={"refresh_token": session.refresh_token})
        assert rotated.status_code == 200
    else:
        refresh_token = "garbage"
    _jar(client, access=_expired_copy(session.access_token), refresh=refresh_token)

    assert _reload(client).status_code == 401
    failed = _refresh(client)
    assert failed.status_code == 401
    assert {"access_token", "refresh_token"} <= _cleared(failed)
    assert not client.cookies.get("refresh_token")
    assert not client.cookies.get("access_token")
    assert _reload(client).status_code == 403  # the login page shows its form


def test_an_anonymous_reload_is_403_and_logout_is_real(client):
    assert _reload(client).status_code == 403
    session = logged_in(client, Role.STUDENT)
    assert client.post("/api/v1/login/logout", headers=browser("/")).status_code == 200
    assert not client.cookies.get("refresh_token")
    assert _reload(client).status_code == 403
    # The old tokens are dead too, not only forgotten by the browser.
    bearer = {"Authorization": f"Bearer {session.access_token}"}
    assert client.get("/api/v1/users/me", headers=bearer).status_code == 401
    assert client.post(REFRESH, json={"refresh_token": session.refresh_token}).status_code == 401


def test_the_openapi_document_describes_test_token(client):
    operation = client.get("/api/v1/openapi.json").json()["paths"][TEST_TOKEN]["post"]
    assert {"200", "401", "403"} <= operation["responses"].keys()
    assert "401 when the cookie is present" in operation["description"]
    assert "403 when it is absent" in operation["description"]


@TRUSTED_PROXY
def test_the_socket_handshake_behind_a_trusted_proxy(client):
    """An older browser (no Fetch Metadata) through a proxy that forwards our host."""
    teacher = logged_in(client)
    room_id = create_room(client, teacher, create_course(client, teacher, "Ethics"))
    _jar(client, access=teacher.access_token)
    forwarded = {"Origin": CLIENT, "X-Forwarded-Host": "localhost:5173"}
    with connect(client, room_id, headers=forwarded) as ws:
        ws.send_text('{"type": "ping"}')
        assert next_event(ws, "pong")["type"] == "pong"
    foreign = {"Origin": "https://evil.example", "X-Forwarded-Host": "localhost:5173"}
    with pytest.raises(WebSocketDisconnect) as refusal, connect(client, room_id, headers=foreign):
        pytest.fail("accepted a foreign origin")
    assert refusal.value.code == 4403
