"""The zero-configuration default: embedded SQLite, in-process broker, in-memory stores."""

from pathlib import Path

import pytest
from litestar.testing import TestClient

from coagent.domain.accounts.roles import Role
from coagent.main import migrations
from coagent.main.app import create_app
from coagent.main.settings import SettingsError, load_settings


@pytest.fixture
def embedded(tmp_path: Path):
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "PASSWORD_HASH_MEMORY_KIB": "64",
        "PASSWORD_HASH_TIME_COST": "1",
        "SUPER_ADMIN": "root@example.test",
        "SUPER_ADMIN_PASSWORD": "first start only!",
    }
    settings = load_settings(env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url)
    return env, settings


def test_embedded_default_generates_secrets_once(tmp_path):
    env = {"DATA_DIR": str(tmp_path / "data")}
    first = load_settings(env)
    second = load_settings(env)
    assert first.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'coagent.db'}"
    assert first.redis_url is None
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 32
    assert first.encryption_keys == second.encryption_keys
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0
    assert first.secret_key not in repr(first)


def test_production_configuration_requires_secrets(tmp_path):
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings({"DATABASE_URL": "postgresql://x@h/db"})
    with pytest.raises(SettingsError, match="Fernet"):
        load_settings(
            {
                "DATABASE_URL": "postgresql://x@h/db",
                "SECRET_KEY": "s" * 40,
                "ENCRYPTION_KEYS": "nope",
            }
        )
    with pytest.raises(SettingsError, match="32"):
        load_settings({"DATA_DIR": str(tmp_path), "SECRET_KEY": "short"})
    with pytest.raises(SettingsError, match="boolean"):
        load_settings({"DATA_DIR": str(tmp_path), "SECURE_COOKIES": "maybe"})


def test_embedded_first_start_creates_the_super_admin_and_serves_sessions(embedded):
    _env, settings = embedded
    with TestClient(app=create_app(settings)) as client:
        assert client.get("/ready").json()["checks"] == {"database": "ok"}
        login = client.post(
            "/api/v1/login/access-token",
            data={"username": "root@example.test", "password": "first start only!"},
        )
        assert login.status_code == 200
        me = client.get("/api/v1/users/me")
        assert me.json()["role"] == Role.SUPER_ADMIN.value
        refreshed = client.post("/api/v1/login/refresh")
        assert refreshed.status_code == 200
        old_access = login.json()["access_token"]
        assert client.post("/api/v1/login/logout").status_code == 200
        client.cookies.clear()
        gone = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {old_access}"})
        assert gone.status_code == 401


def test_a_later_start_never_resets_the_password(embedded):
    env, settings = embedded
    with TestClient(app=create_app(settings)) as client:
        token = client.post(
            "/api/v1/login/access-token",
            data={"username": "root@example.test", "password": "first start only!"},
        ).json()["access_token"]
        changed = client.put(
            "/api/v1/users/me",
            json={"password": "changed by the owner", "current_password": "first start only!"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert changed.status_code == 200
    with TestClient(app=create_app(load_settings(env))) as client:
        old = client.post(
            "/api/v1/login/access-token",
            data={"username": "root@example.test", "password": "first start only!"},
        )
        assert old.status_code == 400
        new = client.post(
            "/api/v1/login/access-token",
            data={"username": "root@example.test", "password": "changed by the owner"},
        )
        assert new.status_code == 200


def test_no_default_admin_without_configuration(tmp_path):
    settings = load_settings(
        {
            "DATA_DIR": str(tmp_path / "d"),
            "PASSWORD_HASH_MEMORY_KIB": "64",
            "PASSWORD_HASH_TIME_COST": "1",
        }
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url)
    with TestClient(app=create_app(settings)) as client:
        for password in ("admin", "admin123", "password"):
            response = client.post(
                "/api/v1/login/access-token", data={"username": "admin", "password": password}
            )
            assert response.status_code == 400


def test_super_admin_variable_never_takes_over_an_existing_account(tmp_path, caplog):
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "PASSWORD_HASH_MEMORY_KIB": "64",
        "PASSWORD_HASH_TIME_COST": "1",
    }
    settings = load_settings(env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url)
    with TestClient(app=create_app(settings)) as client:
        from tests.api.conftest import PASSWORD, seed_user  # noqa: PLC0415

        seed_user(client, Role.STUDENT, email="owner@example.test")
    takeover = load_settings(
        {**env, "SUPER_ADMIN": "owner@example.test", "SUPER_ADMIN_PASSWORD": "attacker's choice"}
    )
    with TestClient(app=create_app(takeover)) as client:
        assert client.get("/health").status_code == 200  # the server still starts
        assert (
            client.post(
                "/api/v1/login/access-token",
                data={"username": "owner@example.test", "password": "attacker's choice"},
            ).status_code
            == 400
        )
        token = client.post(
            "/api/v1/login/access-token",
            data={"username": "owner@example.test", "password": PASSWORD},
        ).json()["access_token"]
        me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["role"] == "student"
    assert any(record.getMessage() == "first super admin not created" for record in caplog.records)


def test_first_embedded_start_seeds_a_demo_course_once(embedded, caplog):
    _, settings = embedded
    with TestClient(app=create_app(settings)) as client:
        credentials = (settings.data_dir / "demo-credentials.txt").read_text()
        accounts = {
            line.split()[1]: line.rsplit(" ", 1)[1]
            for line in credentials.splitlines()
            if "password" in line
        }
        assert set(accounts) == {"teacher@demo.coagent", "alice@demo.coagent", "bob@demo.coagent"}
        token = client.post(
            "/api/v1/login/access-token",
            data={"username": "alice@demo.coagent", "password": accounts["alice@demo.coagent"]},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        [course] = client.get("/api/v1/courses/", headers=headers).json()
        [room] = client.get(
            "/api/v1/rooms/", params={"course_id": course["id"]}, headers=headers
        ).json()
        assert room["ai_mode"] == "both"
        members = client.get(f"/api/v1/courses/{course['id']}/members", headers=headers).json()
        assert sorted(m["role"] for m in members) == ["student", "student", "teacher"]
    log = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert "demo-credentials.txt" in log
    assert not any(password in log for password in accounts.values())
    first = credentials
    with TestClient(app=create_app(settings)):
        pass
    assert (settings.data_dir / "demo-credentials.txt").read_text() == first  # seeded once


def test_production_configuration_does_not_seed_a_demo(tmp_path):
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://x@127.0.0.1:1/none",
            "SECRET_KEY": "s" * 40,
            "ENCRYPTION_KEYS": "yYk3VRSN9JcNS8Wd0yZmQb1WwzjbO5HhUlUixC1qC3I=",
        }
    )
    assert settings.seed_demo is False
    assert load_settings({"DATA_DIR": str(tmp_path)}).seed_demo is True
    assert load_settings({"DATA_DIR": str(tmp_path), "SEED_DEMO": "false"}).seed_demo is False
