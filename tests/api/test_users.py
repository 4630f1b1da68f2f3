"""/api/v1/users: profile, administration, search and avatars."""

import struct
import zlib

import pytest

from coagent.domain.accounts.roles import Role
from tests.api.conftest import PASSWORD, login, seed_user, signed_in

ME = "/api/v1/users/me"
USERS = "/api/v1/users/"


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# --- own profile -------------------------------------------------------------------------


def test_update_own_profile(client):
    session = signed_in(client)
    response = client.put(
        ME, json={"full_name": "Ada Lovelace", "username": "Ada"}, headers=session.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["full_name"], body["username"]) == ("Ada Lovelace", "ada")
    assert body["updated_at"] >= body["created_at"]
    assert client.get(ME, headers=session.headers).json()["username"] == "ada"


def test_own_role_and_status_are_not_self_service(client):
    session = signed_in(client)
    for change in ({"role": "teacher"}, {"is_active": False}):
        response = client.put(ME, json=change, headers=session.headers)
        assert response.status_code == 403
    own = f"/api/v1/users/{session.user.id}"
    assert client.put(own, json={"role": "teacher"}, headers=session.headers).status_code == 403
    assert client.get(ME, headers=session.headers).json()["role"] == "student"


def test_password_change_needs_the_current_password_and_ends_sessions(client):
    user = seed_user(client)
    session, other = login(client, user), login(client, user)
    missing = client.put(ME, json={"password": "a brand new secret"}, headers=session.headers)
    assert missing.status_code == 422
    wrong = client.put(
        ME,
        json={"password": "a brand new secret", "current_password": "nope nope"},
        headers=session.headers,
    )
    assert wrong.status_code == 422
    weak = client.put(
        ME, json={"password": "short", "current_password": PASSWORD}, headers=session.headers
    )
    assert weak.status_code == 422
    changed = client.put(
        ME,
        json={"password": "a brand new secret", "current_password": PASSWORD},
        headers=session.headers,
    )
    assert changed.status_code == 200
    assert client.get(ME, headers=session.headers).status_code == 401
    assert client.get(ME, headers=other.headers).status_code == 401
    assert login(client, user, "a brand new secret").user.id == user.id


def test_long_passphrases_are_accepted(client):
    session = signed_in(client)
    passphrase = "x" * 200
    response = client.put(
        ME, json={"password": passphrase, "current_password": PASSWORD}, headers=session.headers
    )
    assert response.status_code == 200
    assert login(client, session.user, passphrase)


def test_username_conflict_is_409(client):
    seed_user(client, username="taken")
    session = signed_in(client)
    response = client.put(ME, json={"username": "TAKEN"}, headers=session.headers)
    assert response.status_code == 409


@pytest.mark.parametrize("body", [{"username": "x"}, {"username": "bad name!"}, {"role": "king"}])
def test_invalid_profile_values_are_422(client, body):
    session = signed_in(client)
    assert client.put(ME, json=body, headers=session.headers).status_code == 422


# --- administration ----------------------------------------------------------------------


def test_list_users_is_admin_only_paged_and_searchable(client):
    admin = signed_in(client, Role.ADMIN)
    for number in range(5):
        seed_user(client, email=f"pupil{number}@school.test")
    student = signed_in(client)
    assert client.get(USERS, headers=student.headers).status_code == 403
    assert client.get(USERS).status_code == 401

    page = client.get(USERS, params={"limit": 2, "offset": 1}, headers=admin.headers)
    assert page.status_code == 200
    assert len(page.json()) == 2
    assert page.headers["x-total-count"] == "7"
    assert 'rel="next"' in page.headers["link"]
    assert 'rel="prev"' in page.headers["link"]
    everyone = client.get(USERS, headers=admin.headers).json()
    assert [u["created_at"] for u in everyone] == sorted(u["created_at"] for u in everyone)
    assert client.get(USERS, params={"skip": 6}, headers=admin.headers).json() == everyone[6:]

    found = client.get(USERS, params={"search": "PUPIL3"}, headers=admin.headers)
    assert [u["email"] for u in found.json()] == ["pupil3@school.test"]
    assert found.headers["x-total-count"] == "1"
    assert client.get(USERS, params={"limit": 0}, headers=admin.headers).status_code == 422


def test_admin_creates_accounts_within_their_rights(client):
    admin = signed_in(client, Role.ADMIN)
    new = {"email": "New@School.test", "password": "long enough pw", "role": "teacher"}
    created = client.post(USERS, json=new, headers=admin.headers)
    assert created.status_code == 201
    assert created.json()["email"] == "new@school.test"
    assert "password" not in created.text
    assert "argon2" not in created.text
    assert client.post(USERS, json=new, headers=admin.headers).status_code == 409
    as_admin = {**new, "email": "boss@school.test", "role": "admin"}
    assert client.post(USERS, json=as_admin, headers=admin.headers).status_code == 403
    superuser = signed_in(client, Role.SUPER_ADMIN)
    assert client.post(USERS, json=as_admin, headers=superuser.headers).status_code == 201
    teacher = signed_in(client, Role.TEACHER)
    other = {**new, "email": "x@school.test", "role": "student"}
    assert client.post(USERS, json=other, headers=teacher.headers).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "long enough pw"},
        {"email": "a@b.test", "password": "short"},
        {"email": "a@b.test", "password": "long enough pw", "role": "pope"},
        {"password": "long enough pw"},
    ],
)
def test_create_user_validation(client, body):
    admin = signed_in(client, Role.ADMIN)
    assert client.post(USERS, json=body, headers=admin.headers).status_code == 422


@pytest.mark.parametrize(
    ("actor_role", "target_role", "change", "status"),
    [
        (Role.ADMIN, Role.STUDENT, {"role": "teacher"}, 200),
        (Role.ADMIN, Role.STUDENT, {"role": "admin"}, 403),
        (Role.ADMIN, Role.ADMIN, {"full_name": "x"}, 403),
        (Role.SUPER_ADMIN, Role.ADMIN, {"role": "teacher"}, 200),
        (Role.SUPER_ADMIN, Role.STUDENT, {"role": "super_admin"}, 200),
        (Role.TEACHER, Role.STUDENT, {"full_name": "x"}, 403),
        (Role.TA, Role.STUDENT, {"role": "ta"}, 403),
    ],
)
def test_changing_other_accounts(client, actor_role, target_role, change, status):
    actor = signed_in(client, actor_role)
    target = signed_in(client, target_role)
    response = client.put(f"/api/v1/users/{target.user.id}", json=change, headers=actor.headers)
    assert response.status_code == status
    if status == 200 and "role" in change:
        assert response.json()["role"] == change["role"]
        # The old token carried the old role: the change ends the target's sessions.
        assert client.get(ME, headers=target.headers).status_code == 401


def test_updating_an_unknown_user_is_404_for_admins(client):
    admin = signed_in(client, Role.ADMIN)
    response = client.put(
        "/api/v1/users/0190c2a4-0000-7000-8000-000000000000",
        json={"full_name": "x"},
        headers=admin.headers,
    )
    assert response.status_code == 404


def test_delete_rules_and_effect(client):
    admin = signed_in(client, Role.ADMIN)
    victim = signed_in(client)
    assert client.delete(f"/api/v1/users/{admin.user.id}", headers=admin.headers).status_code == 403
    peer = seed_user(client, Role.ADMIN)
    assert client.delete(f"/api/v1/users/{peer.id}", headers=admin.headers).status_code == 403
    deleted = client.delete(f"/api/v1/users/{victim.user.id}", headers=admin.headers)
    assert deleted.status_code == 200
    assert deleted.json()["id"] == str(victim.user.id)
    assert client.get(ME, headers=victim.headers).status_code == 401
    assert (
        client.delete(f"/api/v1/users/{victim.user.id}", headers=admin.headers).status_code == 404
    )
    superuser = signed_in(client, Role.SUPER_ADMIN)
    assert client.delete(f"/api/v1/users/{peer.id}", headers=superuser.headers).status_code == 200
    student = signed_in(client)
    assert (
        client.delete(f"/api/v1/users/{superuser.user.id}", headers=student.headers).status_code
        == 403
    )


# --- search ------------------------------------------------------------------------------


def test_search_is_for_staff_and_bounded(client):
    seed_user(client, email="findme@school.test", username="finder")
    seed_user(client, email="find_me_not@school.test", active=False)
    seed_user(client, email="fin%d@school.test")
    root = seed_user(client, Role.SUPER_ADMIN, email="root@school.test")
    student = signed_in(client)
    ta = signed_in(client, Role.TA)
    admin = signed_in(client, Role.ADMIN)
    assert (
        client.get(
            "/api/v1/users/search", params={"q": "find"}, headers=student.headers
        ).status_code
        == 403
    )

    def emails(query: str, who) -> list[str]:
        found = client.get("/api/v1/users/search", params={"q": query}, headers=who.headers)
        assert found.status_code == 200, found.text
        return [u["email"] for u in found.json()]

    # Admins: a prefix search over active accounts, wildcards literal.
    assert emails("FIND", admin) == ["findme@school.test"]
    assert emails("fin%", admin) == ["fin%d@school.test"]
    assert emails("root", admin) == ["root@school.test"]
    # Other staff: the exact email or username only, and never an admin account.
    assert emails("FIND", ta) == []
    assert emails("FindMe@School.test", ta) == ["findme@school.test"]
    assert emails("finder", ta) == ["findme@school.test"]
    assert emails("find_me_not@school.test", ta) == []
    assert emails(root.email, ta) == []
    assert (
        client.get("/api/v1/users/search", params={"q": "f"}, headers=ta.headers).status_code == 422
    )
    assert (
        client.get(
            "/api/v1/users/search", params={"q": "fi", "limit": 500}, headers=ta.headers
        ).status_code
        == 422
    )


# --- avatars -----------------------------------------------------------------------------


def test_avatar_upload_and_serving(client):
    session = signed_in(client)
    image = png_bytes()
    response = client.post(
        "/api/v1/users/me/avatar",
        files={"file": ("photo.html", image, "text/html")},
        headers=session.headers,
    )
    assert response.status_code == 200
    url = response.json()["avatar_url"]
    assert url.startswith("/static/avatars/")
    assert url.endswith(".png")
    served = client.get(url)
    assert served.status_code == 200
    assert served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in served.headers["content-security-policy"]

    again = client.post(
        "/api/v1/users/me/avatar",
        files={"file": ("b.png", png_bytes(3, 3), "image/png")},
        headers=session.headers,
    )
    assert again.json()["avatar_url"] != url
    assert client.get(url).status_code == 404  # the old file is gone


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        (b"<html><script>alert(1)</script></html>", "image/png"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "image/svg+xml",
        ),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "image/png"),
        (b"", "image/jpeg"),
    ],
)
def test_avatar_must_really_be_an_image(client, payload, content_type):
    session = signed_in(client)
    response = client.post(
        "/api/v1/users/me/avatar",
        files={"file": ("a.png", payload, content_type)},
        headers=session.headers,
    )
    assert response.status_code == 422
    assert client.get(ME, headers=session.headers).json()["avatar_url"] is None


def test_avatar_size_limit(client):
    session = signed_in(client)
    big = png_bytes() + b"\x00" * (2 * 1024 * 1024)
    response = client.post(
        "/api/v1/users/me/avatar",
        files={"file": ("a.png", big, "image/png")},
        headers=session.headers,
    )
    assert response.status_code in {413, 422}
    assert client.get(ME, headers=session.headers).json()["avatar_url"] is None


def test_avatar_needs_a_session(client):
    response = client.post(
        "/api/v1/users/me/avatar", files={"file": ("a.png", png_bytes(), "image/png")}
    )
    assert response.status_code == 401


def test_unknown_avatar_is_404(client):
    assert client.get("/static/avatars/nothing.png").status_code == 404
