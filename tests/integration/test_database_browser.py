"""The admin database viewer and the audit log reader, on PostgreSQL and on SQLite."""

from datetime import timedelta

import pytest

from coagent.adapters.persistence._models import metadata
from coagent.adapters.persistence.browser import SqlAlchemyDatabaseBrowser, is_secret
from coagent.application.ports.repositories import StoredImage
from coagent.domain.agents.config import AgentConfig, AgentType, Provider
from coagent.domain.agents.keys import KeyType
from coagent.domain.agents.trigger import DEFAULT_TRIGGER
from coagent.domain.errors import NotFound
from tests.integration.conftest import Database, UserFactory, new_id, new_session, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


# Every column of our schema that holds a secret (or something derived from one).
SECRETS = {
    ("user_account", "password_hash"),
    ("auth_session", "refresh_jti"),
    ("avatar", "data"),
    ("agent_key", "ciphertext"),
}


def test_secret_column_names() -> None:
    for name in (
        "password_hash",
        "refresh_jti",
        "data",
        "encrypted_api_key",
        "reset_token",
        "ciphertext",
        "key_ciphertext",
        "encrypted_value",
        "token_digest",
        "client_credentials",
    ):
        assert is_secret(name)
    for name in ("email", "user_id", "created_at", "content_type", "title", "mask"):
        assert not is_secret(name)


def test_every_secret_column_of_the_schema_is_hidden() -> None:
    columns = {(table.name, column.name) for table in metadata.sorted_tables for column in table.c}
    assert columns >= SECRETS  # the list names real columns
    assert all(is_secret(column) for _, column in SECRETS)


async def test_agent_keys_show_their_mask_never_their_ciphertext(database: Database) -> None:
    now = utcnow()
    config = AgentConfig(
        id=new_id(),
        course_id=None,
        type=AgentType.DESIGN,
        name="Design",
        provider=Provider.OPENAI,
        model=None,
        base_url=None,
        system_prompt="x",
        context_window=10,
        trigger=DEFAULT_TRIGGER,
        schedule=None,
        settings={},
        is_active=True,
        created_by=None,
        created_at=now,
        updated_at=now,
    )
    ciphertext = "gAAAAABciphertext-of-a-provider-key"
    async with database.uow() as uow:
        await uow.agent_configs.add(config)
        await uow.agent_configs.set_key(
            config.id, KeyType.API_KEY, ciphertext=ciphertext, mask="sk-…89"
        )
        await uow.commit()
    browser = SqlAlchemyDatabaseBrowser(database.sessions)
    options = {"limit": 100, "offset": 0, "start": None, "end": None}
    for resolve in (False, True):
        rows = await browser.rows(
            "agent_key",
            search=None,
            resolve_relations=resolve,
            **options,  # type: ignore[arg-type]
        )
        assert len(rows) == 1
        assert rows[0]["mask"] == "sk-…89"
        assert "ciphertext" not in rows[0]
        assert ciphertext not in repr(rows)
    found = await browser.rows(
        "agent_key",
        search="ciphertext-of",
        resolve_relations=False,
        **options,  # type: ignore[arg-type]
    )
    assert found == []


async def test_rows_without_secrets_filtered_and_resolved(database: Database) -> None:
    start = utcnow() - timedelta(hours=1)
    users = [
        UserFactory.build(created_at=start + timedelta(seconds=n), full_name=f"Name_{n}")
        for n in range(3)
    ]
    async with database.uow() as uow:
        for user in users:
            await uow.users.add(user)
        await uow.sessions.add(new_session(users[0].id))
        await uow.avatars.put(
            users[1].id, StoredImage(file_name="a.png", content_type="image/png", data=b"\x89PNG")
        )
        await uow.audit.record(actor_id=users[0].id, action="a.one", target_type="t", target_id="1")
        await uow.commit()
    browser = SqlAlchemyDatabaseBrowser(database.sessions)
    assert "alembic_version" not in await browser.tables()

    async def rows(table: str, **kwargs: object) -> list[dict[str, object]]:
        options: dict[str, object] = {
            "limit": 100,
            "offset": 0,
            "search": None,
            "start": None,
            "end": None,
            "resolve_relations": False,
        }
        options.update(kwargs)
        return await browser.rows(table, **options)  # type: ignore[arg-type]

    listed = await rows("user_account")
    assert [row["id"] for row in listed] == [str(u.id) for u in reversed(users)]
    assert all("password_hash" not in row for row in listed)
    assert "$argon2" not in repr(listed)
    sessions = await rows("auth_session", resolve_relations=True)
    assert "refresh_jti" not in sessions[0]
    assert sessions[0]["user_email"] == users[0].email
    avatars = await rows("avatar")
    assert "data" not in avatars[0]
    assert avatars[0]["content_type"] == "image/png"

    assert [r["id"] for r in await rows("user_account", search="NAME_1")] == [str(users[1].id)]
    assert await rows("user_account", search="%") == []
    by_id = await rows("auth_session", search=str(users[0].id).upper())
    assert [r["user_id"] for r in by_id] == [str(users[0].id)]
    assert await rows("user_account", search="argon2") == []
    assert len(await rows("user_account", search="e_")) == 3  # "Name_n": a literal underscore
    assert await rows("user_account", search="me_x") == []
    assert [r["id"] for r in await rows("user_account", start=users[2].created_at)] == [
        str(users[2].id)
    ]
    assert [r["id"] for r in await rows("user_account", end=users[0].created_at)] == [
        str(users[0].id)
    ]
    assert len(await rows("user_account", limit=1, offset=1)) == 1
    with pytest.raises(NotFound):
        await rows("alembic_version")
    with pytest.raises(NotFound):
        await rows("user_account; DROP TABLE user_account")

    async with database.uow() as uow:
        page = await uow.audit.list(offset=0, limit=10, action="a.one")
        assert page.total == 1
        assert page.items[0].actor_id == users[0].id
        assert (await uow.audit.list(offset=0, limit=10, action="nope")).total == 0
