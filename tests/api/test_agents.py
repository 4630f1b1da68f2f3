"""Agent configurations over HTTP: every route by every kind of caller, partial updates,
activation, keys (never in a response, the database or a log), validation.
"""

import asyncio
import logging

import asyncpg
import pytest

from tests.api.conftest import World, container_of, matrix_cases, run
from tests.conftest import TEST_FERNET

AGENTS = "/api/v1/agents/"
LEGACY = "/api/v1/agent-config/"
KEY = "sk-test-0123456789abcdefXYZ89"
OTHER_KEY = "sk-other-abcdefghijklmnopq42"
MISSING = "0190c2a4-0000-7000-8000-000000000000"


def _create(client, world: World, caller="owner", **body):
    payload = {"type": "teacher", "name": "Socratic", "system_prompt": "Ask questions.", **body}
    return client.post(
        f"{AGENTS}{world.course_id}", json=payload, headers=world.sessions[caller].headers
    )


@pytest.fixture
def config(client, world: World) -> dict:
    response = _create(client, world, api_key=KEY)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def version(client, world: World, config: dict) -> dict:
    response = client.post(
        f"{LEGACY}{config['id']}/versions",
        json={"version_label": "first"},
        headers=world.sessions["owner"].headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def system_config(client, world: World) -> dict:
    response = client.put(
        f"{AGENTS}system/design",
        json={"type": "design", "system_prompt": "Write prompts."},
        headers=world.sessions["admin"].headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


# --- every endpoint x every caller -------------------------------------------------------

DESIGN_BODY = {"requirement": "A Socratic tutor", "target_agent_type": "teacher"}
MANAGE = (401, 404, 403, 403, 200, 200, 404, 404, 200, 200)
READ = (401, 404, 403, 200, 200, 200, 404, 404, 200, 200)
ADMIN = (401, 403, 403, 403, 403, 403, 403, 403, 200, 200)
SYSTEM_BY_ID = (401, 404, 404, 404, 404, 404, 404, 404, 200, 200)
MATRIX = {
    "list": ("GET", AGENTS + "{c}", None, READ),
    "create": (
        "POST",
        AGENTS + "{c}",
        {"type": "student", "system_prompt": "Be a peer."},
        (401, 404, 403, 403, 201, 201, 404, 404, 201, 201),
    ),
    "update": ("PUT", AGENTS + "{a}", {"system_prompt": "New."}, MANAGE),
    "delete": ("DELETE", AGENTS + "{a}", None, (401, 404, 403, 403, 204, 204, 404, 404, 204, 204)),
    "activate": ("PUT", AGENTS + "{a}/activate", None, MANAGE),
    "keys_read": ("GET", AGENTS + "{a}/keys", None, READ),
    "keys_update": ("PUT", AGENTS + "{a}/keys", {"room_key": OTHER_KEY}, MANAGE),
    "system_list": ("GET", AGENTS + "system", None, ADMIN),
    "system_upsert": (
        "PUT",
        AGENTS + "system/analytics",
        {"type": "analytics", "system_prompt": "Report."},
        ADMIN,
    ),
    "system_update": ("PUT", AGENTS + "{s}", {"system_prompt": "x"}, SYSTEM_BY_ID),
    "system_keys_read": ("GET", AGENTS + "{s}/keys", None, SYSTEM_BY_ID),
    "legacy_list": ("GET", LEGACY + "{c}", None, READ),
    "legacy_upsert": (
        "PUT",
        LEGACY + "{c}/teacher",
        {"type": "teacher", "system_prompt": "Upserted."},
        MANAGE,
    ),
    "versions_create": (
        "POST",
        LEGACY + "{a}/versions",
        {"version_label": "mine"},
        (401, 404, 403, 403, 201, 201, 404, 404, 201, 201),
    ),
    "versions_list": ("GET", LEGACY + "{a}/versions", None, MANAGE),
    "versions_restore": ("POST", LEGACY + "{a}/versions/{v}/restore", None, MANAGE),
    # The design agent, on the system design configuration (offline) and the real registry.
    "generate_for_course": (
        "POST",
        AGENTS + "generate",
        {**DESIGN_BODY, "course_id": "{c}"},
        (401, 404, 403, 403, 200, 200, 404, 404, 200, 200),
    ),
    "generate": (
        "POST",
        AGENTS + "generate",
        DESIGN_BODY,
        (401, 403, 403, 403, 200, 200, 200, 403, 200, 200),
    ),
}
CASES = matrix_cases({name: expected for name, (*_, expected) in MATRIX.items()})


@pytest.mark.parametrize(("endpoint", "caller", "status"), CASES)
def test_every_endpoint_by_every_caller(
    client, world, config, version, system_config, endpoint, caller, status
):
    method, path, body, _ = MATRIX[endpoint]
    path = (
        path.replace("{c}", world.course_id)
        .replace("{a}", config["id"])
        .replace("{v}", version["id"])
        .replace("{s}", system_config["id"])
    )
    if body is not None and body.get("course_id") == "{c}":
        body = {**body, "course_id": world.course_id}
    headers = {} if caller == "anonymous" else world.sessions[caller].headers
    response = client.request(method, path, json=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 404:
        assert response.json()["detail"] in {"Course not found", "Agent configuration not found"}
    if status < 300 and method == "GET" and endpoint != "keys_read":
        assert KEY not in response.text
        assert "sk-…89" in response.text or endpoint.startswith(("system", "versions"))


def test_integral_numbers_count_as_integers_as_in_json_schema(client, world):
    created = _create(
        client, world, context_window=30.0, trigger_config={"type": "message_count", "value": 5.0}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["context_window"], body["trigger_config"]["value"]) == (30, 5)
    fraction = _create(client, world, name="Other", context_window=30.5)
    assert fraction.status_code == 422
    assert "context_window" in fraction.text
    coerced = _create(client, world, name="Other", context_window="30")
    assert coerced.status_code == 422  # strings are still not numbers


def test_the_design_agent_works_offline_end_to_end_with_no_key(client, world):
    response = client.post(
        f"{AGENTS}generate",
        json={**DESIGN_BODY, "course_id": world.course_id, "custom_provider": "offline"},
        headers=world.sessions["owner"].headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["provider"], body["model"], body["offline"], body["config_id"]) == (
        "offline",
        "offline",
        True,
        None,
    )
    # The real offline provider: labelled, deterministic, and it read the user turn.
    assert body["generated_prompt"].startswith("[offline reply]")
    assert "No language model was called" in body["generated_prompt"]
    again = client.post(
        f"{AGENTS}generate",
        json={**DESIGN_BODY, "course_id": world.course_id, "custom_provider": "offline"},
        headers=world.sessions["owner"].headers,
    )
    assert again.json() == body


# --- shape, defaults, partial updates ------------------------------------------------------


def test_created_configuration_reads_back_with_defaults_and_a_mask(client, world, config):
    assert config["masked_api_key"] == "sk-…89"
    assert "api_key" not in config
    assert config["trigger_config"] == {"type": "probability", "value": None}
    assert config["schedule_config"] is None
    assert (config["model_provider"], config["context_window"], config["settings"]) == (
        "offline",
        10,
        {},
    )
    assert config["is_active"] is True  # the first of its type in the course
    assert config["course_id"] == world.course_id
    assert config["created_by"] == str(world.sessions["owner"].user.id)
    second = _create(client, world, name="  Second  ", model_provider="openai").json()
    assert (second["name"], second["is_active"], second["masked_api_key"]) == (
        "Second",
        False,
        None,
    )
    listed = client.get(f"{AGENTS}{world.course_id}", headers=world.sessions["ta"].headers)
    assert [c["name"] for c in listed.json()] == ["Socratic", "Second"]
    legacy = client.get(f"{LEGACY}{world.course_id}", headers=world.sessions["ta"].headers)
    assert legacy.json() == listed.json()


def test_duplicate_names_per_course_and_type_are_409(client, world, config):
    duplicate = _create(client, world)
    assert duplicate.status_code == 409
    assert "name" in duplicate.json()["detail"]
    assert _create(client, world, type="student").status_code == 201  # another type
    other = _create(client, world, name="Other").json()
    renamed = client.put(
        f"{AGENTS}{other['id']}", json={"name": "Socratic"}, headers=world.sessions["owner"].headers
    )
    assert renamed.status_code == 409


def test_the_spa_puts_the_whole_object_back(client, world, config):
    owner = world.sessions["owner"].headers
    whole = {
        **config,
        "system_prompt": "Be brief.",
        "id": MISSING,  # read-only fields sent back are ignored
        "is_active": False,
        "type": "design",
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z",
        "trigger_config": {"type": "message_count", "value": 5},
    }
    updated = client.put(f"{AGENTS}{config['id']}", json=whole, headers=owner)
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["id"], body["type"], body["is_active"]) == (config["id"], "teacher", True)
    assert body["system_prompt"] == "Be brief."
    assert body["trigger_config"] == {"type": "message_count", "value": 5}
    assert body["masked_api_key"] == "sk-…89"
    assert body["updated_at"] > config["updated_at"]
    assert body["created_at"] == config["created_at"]
    assert _stored_key(client, config["id"]) == KEY


def test_partial_update_changes_only_what_is_sent(client, world, config):
    owner = world.sessions["owner"].headers
    client.put(
        f"{AGENTS}{config['id']}",
        json={"model_provider": "openai", "model": "gpt-4o", "context_window": 30},
        headers=owner,
    )
    body = client.put(
        f"{AGENTS}{config['id']}", json={"system_prompt": "Only this."}, headers=owner
    ).json()
    # The original reset provider, settings and context window on a partial PUT.
    assert (body["model_provider"], body["model"], body["context_window"]) == (
        "openai",
        "gpt-4o",
        30,
    )
    assert body["system_prompt"] == "Only this."
    cleared = client.put(
        f"{AGENTS}{config['id']}",
        json={"model": None, "base_url": "", "trigger_config": None, "schedule_config": None},
        headers=owner,
    ).json()
    assert (cleared["model"], cleared["base_url"]) == (None, None)
    assert cleared["trigger_config"] == {"type": "probability", "value": None}


def test_api_key_null_keeps_masked_keeps_empty_clears_new_replaces(client, world, config):
    owner = world.sessions["owner"].headers
    url = f"{AGENTS}{config['id']}"
    for kept in (None, "sk-…89", "****"):
        body = client.put(url, json={"api_key": kept}, headers=owner).json()
        assert body["masked_api_key"] == "sk-…89"
        assert _stored_key(client, config["id"]) == KEY
    replaced = client.put(url, json={"api_key": OTHER_KEY}, headers=owner).json()
    assert replaced["masked_api_key"] == "sk-…42"
    assert _stored_key(client, config["id"]) == OTHER_KEY
    short = client.put(url, json={"api_key": "abc123"}, headers=owner).json()
    assert short["masked_api_key"] == "****"
    cleared = client.put(url, json={"api_key": ""}, headers=owner).json()
    assert cleared["masked_api_key"] is None
    assert client.get(f"{url}/keys", headers=owner).json() == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"model_provider": "claude"},
        {"context_window": 0},
        {"context_window": 501},
        {"context_window": "10"},
        {"base_url": "ftp://example.test"},
        {"base_url": "http://user:secret@example.test/v1"},
        {"base_url": "http://example.test/v1?x=1"},
        {"base_url": "http://example.test:70000"},
        {"trigger_config": {"type": "sometimes"}},
        {"trigger_config": {"type": "message_count", "value": 0}},
        {"trigger_config": {"type": "silence", "value": 5}},
        {"schedule_config": {"general": {"mode": "hourly"}}},
        {"model": "gpt 4"},
        {"name": "   "},
        {"name": None},
        {"system_prompt": "a\x00b"},
        {"api_key": "sk key with spaces"},
        {"settings": []},
    ],
)
def test_invalid_fields_are_422_and_change_nothing(client, world, config, bad):
    owner = world.sessions["owner"].headers
    response = client.put(f"{AGENTS}{config['id']}", json=bad, headers=owner)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    listed = client.get(f"{AGENTS}{world.course_id}", headers=owner).json()
    assert listed == [config]


def test_local_openai_compatible_server_and_nested_settings(client, world, config):
    owner = world.sessions["owner"].headers
    body = client.put(
        f"{AGENTS}{config['id']}",
        json={
            "model_provider": "openai",
            "model": "llama3.1:8b",
            "base_url": "http://localhost:11434/v1",
            "settings": {"sync_schedule": True, "nested": {"a\x00b": ["x\x00y", 1]}},
        },
        headers=owner,
    ).json()
    assert body["base_url"] == "http://localhost:11434/v1"
    assert body["model"] == "llama3.1:8b"
    # PostgreSQL's jsonb refuses NUL characters: they are dropped, never a 500.
    assert body["settings"] == {"sync_schedule": True, "nested": {"ab": ["xy", 1]}}


def test_unknown_agent_types_and_misplaced_system_types(client, world):
    admin = world.sessions["admin"].headers
    system_teacher = client.put(
        f"{AGENTS}system/teacher", json={"type": "teacher", "system_prompt": "x"}, headers=admin
    )
    assert system_teacher.status_code in {400, 422}
    assert client.get(f"{AGENTS}system", headers=admin).json() == []
    bad_path = client.put(
        f"{LEGACY}{world.course_id}/wizard",
        json={"type": "teacher", "system_prompt": "x"},
        headers=admin,
    )
    assert bad_path.status_code in {400, 422}
    assert _create(client, world, type="wizard").status_code == 422
    assert client.get(f"{AGENTS}{MISSING}", headers=admin).status_code == 404
    assert client.put(f"{AGENTS}{MISSING}", json={}, headers=admin).status_code == 404


# --- activation -----------------------------------------------------------------------------


def test_activation_switches_the_one_active_configuration(client, world, config):
    owner = world.sessions["owner"].headers
    second = _create(client, world, name="Second").json()
    peer = _create(client, world, type="student", name="Peer").json()
    activated = client.put(f"{AGENTS}{second['id']}/activate", headers=owner)
    assert activated.status_code == 200
    assert activated.json()["is_active"] is True
    again = client.put(f"{AGENTS}{second['id']}/activate", headers=owner)
    assert again.json()["is_active"] is True
    listed = {
        c["id"]: c["is_active"]
        for c in client.get(f"{AGENTS}{world.course_id}", headers=owner).json()
    }
    assert listed == {config["id"]: False, second["id"]: True, peer["id"]: True}


def test_concurrent_activations_leave_exactly_one_active(client, world, config):
    owner = world.sessions["owner"].headers
    ids = [config["id"]] + [_create(client, world, name=f"C{i}").json()["id"] for i in range(5)]
    container = container_of(client)

    async def activate_all():
        from coagent.application.agents.activate_config import (  # noqa: PLC0415
            ActivateAgentConfigCommand,
        )
        from coagent.domain.errors import Conflict  # noqa: PLC0415

        async def one(config_id):
            try:
                await container.agents.activate.execute(
                    ActivateAgentConfigCommand(
                        actor_id=world.sessions["owner"].user.id, config_id=config_id
                    )
                )
            except Conflict:
                return "conflict"
            return "ok"

        from uuid import UUID  # noqa: PLC0415

        return await asyncio.gather(*(one(UUID(i)) for i in ids * 3))

    outcomes = run(client, activate_all)
    assert set(outcomes) <= {"ok", "conflict"}
    active = [
        c for c in client.get(f"{AGENTS}{world.course_id}", headers=owner).json() if c["is_active"]
    ]
    assert len(active) == 1


# --- keys -------------------------------------------------------------------------------


def test_keys_are_masked_ordered_and_deleted(client, world, config):
    owner = world.sessions["owner"].headers
    url = f"{AGENTS}{config['id']}/keys"
    assert client.get(url, headers=owner).json() == {"api_key": "sk-…89"}
    response = client.put(
        url,
        json={
            "backup_key": "sk-backup-000000000000000001",
            "room_key": OTHER_KEY,
            "global_key": None,
        },
        headers=owner,
    )
    assert response.status_code == 200, response.text
    assert response.json()["masked_api_key"] == "sk-…89"
    assert response.json()["updated_at"] > config["updated_at"]
    assert client.get(url, headers=owner).json() == {
        "room_key": "sk-…42",
        "api_key": "sk-…89",
        "backup_key": "sk-…01",
    }
    assert _stored_keys_in_order(client, config["id"]) == [
        OTHER_KEY,
        KEY,
        "sk-backup-000000000000000001",
    ]
    client.put(url, json={"room_key": "", "api_key": None}, headers=owner)
    assert client.get(url, headers=owner).json() == {"backup_key": "sk-…01"}
    assert (
        client.get(f"{AGENTS}{world.course_id}", headers=owner).json()[0]["masked_api_key"] is None
    )


@pytest.mark.parametrize(
    "bad", [{"admin_key": "x"}, {"room_key": 5}, {"room_key": "has space"}, []]
)
def test_unknown_key_types_and_bad_keys_are_422(client, world, config, bad):
    response = client.put(
        f"{AGENTS}{config['id']}/keys", json=bad, headers=world.sessions["owner"].headers
    )
    assert response.status_code == 422


def test_no_key_is_stored_in_clear(client, world, config, pg):
    owner = world.sessions["owner"].headers
    client.put(f"{AGENTS}{config['id']}/keys", json={"room_key": OTHER_KEY}, headers=owner)
    client.post(f"{LEGACY}{config['id']}/versions", json={}, headers=owner)

    async def dump() -> str:
        connection = await asyncpg.connect(pg.replace("+asyncpg", ""))
        try:
            cells = []
            for table in ("agent_config", "agent_key", "agent_config_version", "audit_event"):
                for row in await connection.fetch(f"SELECT * FROM {table}"):  # noqa: S608
                    cells.extend(str(value) for value in row.values())
            return "\n".join(cells)
        finally:
            await connection.close()

    everything = asyncio.run(dump())
    assert "sk-…89" in everything  # the masks are there ...
    for key in (KEY, OTHER_KEY, KEY[3:-2], OTHER_KEY[3:-2]):
        assert key not in everything  # ... the keys are not
    assert _stored_keys_in_order(client, config["id"]) == [OTHER_KEY, KEY]


def test_no_key_appears_in_any_log_line(client, world, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    owner = world.sessions["owner"].headers
    created = _create(client, world, api_key=KEY).json()
    client.put(f"{AGENTS}{created['id']}", json={"api_key": OTHER_KEY}, headers=owner)
    client.put(f"{AGENTS}{created['id']}/keys", json={"backup_key": KEY}, headers=owner)
    client.put(f"{AGENTS}{created['id']}/keys", json={"room_key": "bad key"}, headers=owner)
    _create(client, world, api_key=KEY)  # a 409
    client.put(
        f"{AGENTS}system/design",
        json={"type": "design", "system_prompt": "x", "api_key": OTHER_KEY},
        headers=world.sessions["admin"].headers,
    )
    lines = [f"{record.getMessage()} {record.args} {record.__dict__}" for record in caplog.records]
    captured = capsys.readouterr()
    assert lines  # something was logged, so the check is not vacuous
    for text in [*lines, captured.out, captured.err]:
        assert KEY not in text
        assert OTHER_KEY not in text


# --- versions -----------------------------------------------------------------------------


def test_versions_snapshot_list_newest_first_and_restore(client, world, config, version):
    owner = world.sessions["owner"].headers
    assert (version["version_label"], version["system_prompt"], version["name"]) == (
        "first",
        "Ask questions.",
        "Socratic",
    )
    assert "masked_api_key" not in version
    url = f"{AGENTS}{config['id']}"
    client.put(
        url,
        json={
            "system_prompt": "Changed.",
            "trigger_config": {"type": "silence", "value": 120},
            "api_key": OTHER_KEY,
        },
        headers=owner,
    )
    auto = client.post(f"{LEGACY}{config['id']}/versions", json={}, headers=owner).json()
    assert auto["version_label"] == "v2"
    listed = client.get(f"{LEGACY}{config['id']}/versions", headers=owner)
    assert [v["version_label"] for v in listed.json()] == ["v2", "first"]
    assert listed.headers["x-total-count"] == "2"
    paged = client.get(f"{LEGACY}{config['id']}/versions?limit=1&offset=1", headers=owner)
    assert [v["version_label"] for v in paged.json()] == ["first"]

    restored = client.post(
        f"{LEGACY}{config['id']}/versions/{version['id']}/restore", headers=owner
    ).json()
    assert restored["system_prompt"] == "Ask questions."
    assert restored["trigger_config"] == {"type": "probability", "value": None}
    assert restored["masked_api_key"] == "sk-…42"  # keys are not versioned
    assert restored["updated_at"] > config["updated_at"]


def test_a_version_of_another_configuration_is_404(client, world, config, version):
    owner = world.sessions["owner"].headers
    other = _create(client, world, name="Other").json()
    response = client.post(f"{LEGACY}{other['id']}/versions/{version['id']}/restore", headers=owner)
    assert response.status_code == 404
    assert response.json()["detail"] == "Version not found"
    missing = client.post(f"{LEGACY}{config['id']}/versions/{MISSING}/restore", headers=owner)
    assert missing.status_code == 404


def test_restoring_a_name_taken_since_is_409(client, world, config, version):
    owner = world.sessions["owner"].headers
    client.put(f"{AGENTS}{config['id']}", json={"name": "Renamed"}, headers=owner)
    _create(client, world, name="Socratic")
    response = client.post(
        f"{LEGACY}{config['id']}/versions/{version['id']}/restore", headers=owner
    )
    assert response.status_code == 409


# --- upserts, system configurations, deletion ---------------------------------------------


def test_legacy_upsert_creates_then_updates_the_active_configuration(client, world):
    owner = world.sessions["owner"].headers
    url = f"{LEGACY}{world.course_id}/student"
    created = client.put(url, json={"type": "student", "system_prompt": "One."}, headers=owner)
    assert created.status_code == 200
    assert (created.json()["is_active"], created.json()["name"]) == (True, "Default Profile")
    updated = client.put(
        url, json={"type": "student", "system_prompt": "Two.", "api_key": KEY}, headers=owner
    ).json()
    assert (updated["id"], updated["system_prompt"]) == (created.json()["id"], "Two.")
    assert updated["masked_api_key"] == "sk-…89"


def test_system_configurations_are_the_admins_defaults(client, world, system_config):
    admin = world.sessions["admin"].headers
    assert (system_config["course_id"], system_config["is_active"]) == (None, True)
    again = client.put(
        f"{AGENTS}system/design",
        json={"type": "design", "system_prompt": "Better prompts.", "api_key": KEY},
        headers=admin,
    ).json()
    assert again["id"] == system_config["id"]
    listed = client.get(f"{AGENTS}system", headers=world.sessions["super_admin"].headers).json()
    assert [(c["type"], c["system_prompt"], c["masked_api_key"]) for c in listed] == [
        ("design", "Better prompts.", "sk-…89")
    ]
    assert KEY not in str(listed)
    owner = world.sessions["owner"].headers
    assert client.put(f"{AGENTS}{system_config['id']}/activate", headers=owner).status_code == 404


def test_deleting_a_configuration_or_its_course(client, world, config, version):
    owner = world.sessions["owner"].headers
    other = _create(client, world, name="Other").json()
    assert client.delete(f"{AGENTS}{other['id']}", headers=owner).status_code == 204
    assert client.put(f"{AGENTS}{other['id']}/activate", headers=owner).status_code == 404
    assert client.delete(f"/api/v1/courses/{world.course_id}", headers=owner).status_code == 200
    admin = world.sessions["admin"].headers
    assert client.get(f"{AGENTS}{config['id']}/keys", headers=admin).status_code == 404
    assert _stored_keys_in_order(client, config["id"]) == []


# --- helpers --------------------------------------------------------------------------------


def _stored_keys_in_order(client, config_id: str) -> list[str]:
    from uuid import UUID  # noqa: PLC0415

    from coagent.adapters.security.secret_box import FernetSecretBox  # noqa: PLC0415

    container = container_of(client)
    box = FernetSecretBox([TEST_FERNET])

    async def read() -> list[str]:
        async with container.uow() as uow:
            return [box.decrypt(c) for c in await uow.agent_configs.keys_of(UUID(config_id))]

    keys: list[str] = run(client, read)
    return keys


def _stored_key(client, config_id: str) -> str | None:
    keys = _stored_keys_in_order(client, config_id)
    return keys[0] if keys else None


def test_the_system_path_names_exactly_the_system_types():
    from typing import get_args  # noqa: PLC0415

    from coagent.adapters.http.agents.controller import SystemAgentType  # noqa: PLC0415
    from coagent.domain.agents.config import SYSTEM_TYPES  # noqa: PLC0415

    assert set(get_args(SystemAgentType)) == {agent_type.value for agent_type in SYSTEM_TYPES}
