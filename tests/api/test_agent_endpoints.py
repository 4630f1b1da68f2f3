"""Where an agent's provider calls go, over HTTP, with the server defaults (PostgreSQL, no
LLM_ALLOWED_HOSTS): a stored key never follows a changed provider or base_url, whichever
route changes it, and a base_url to an internal address is a 422.

The providers are scripted (they record which key and base URL each call got); the guard on
real connections is tested in tests/integration/test_llm_endpoints.py.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from coagent.main.app import create_app
from coagent.main.compose.infra import Overrides
from coagent.main.settings import Settings
from tests.api.conftest import World
from tests.conftest import make_settings
from tests.fakes.llm import ScriptedLLM, ScriptedProviders, reply

AGENTS = "/api/v1/agents/"
LEGACY = "/api/v1/agent-config/"
OWNER_KEY = "sk-owner-0123456789abcdef-OW"
ATTACKER = "https://attacker.example.net/v1"
ALL_KEYS = ["room_key", "global_key", "api_key", "backup_key"]
INTERNAL = [
    "http://127.0.0.1:11434/v1",
    "http://localhost:8000/v1",
    "http://[::1]/v1",
    "http://169.254.169.254/latest",
    "http://10.0.0.8/v1",
    "http://2130706433/v1",
]


@pytest.fixture
def settings(tmp_path: Path, pg: str, redis_url: str) -> Settings:
    # "" is the server default: no internal address allowed.
    return make_settings(tmp_path, DATABASE_URL=pg, REDIS_URL=redis_url, LLM_ALLOWED_HOSTS="")


@pytest.fixture
def scripted() -> ScriptedProviders:
    return ScriptedProviders(ScriptedLLM(default=reply("You are a tutor.")))


@pytest.fixture
def client(settings: Settings, scripted: ScriptedProviders) -> Iterator[TestClient[Any]]:
    app = create_app(settings, Overrides(llm=scripted))
    with TestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


def _as(world: World, caller: str) -> dict[str, str]:
    return world.sessions[caller].headers


def _keyed_config(client, world: World, agent_type: str = "teacher") -> dict:
    """The owner's configuration with a key in every slot."""
    created = client.post(
        f"{AGENTS}{world.course_id}",
        json={
            "type": agent_type,
            "system_prompt": "P",
            "model_provider": "openai",
            "base_url": "https://llm.example.org/v1",
            "api_key": OWNER_KEY,
        },
        headers=_as(world, "owner"),
    )
    assert created.status_code == 201, created.text
    config = created.json()
    keys = client.put(
        f"{AGENTS}{config['id']}/keys",
        json={
            "room_key": "sk-room-0000000000000001",
            "global_key": "sk-global-00000000000002",
            "backup_key": "sk-backup-00000000000003",
        },
        headers=_as(world, "owner"),
    )
    assert keys.status_code == 200, keys.text
    return config


def _masks(client, world: World, config_id: str) -> dict[str, str]:
    response = client.get(f"{AGENTS}{config_id}/keys", headers=_as(world, "owner"))
    assert response.status_code == 200, response.text
    result: dict[str, str] = response.json()
    return result


def test_a_co_teacher_moving_the_base_url_never_gets_the_owners_keys(
    client, world: World, scripted: ScriptedProviders
):
    """The probe's finding: change only base_url, then generate with the stored keys."""
    config = _keyed_config(client, world, "design")

    moved = client.put(
        f"{AGENTS}{config['id']}", json={"base_url": ATTACKER}, headers=_as(world, "co_teacher")
    )

    assert moved.status_code == 200, moved.text
    assert moved.json()["dropped_keys"] == ALL_KEYS
    assert moved.json()["masked_api_key"] is None
    assert _masks(client, world, config["id"]) == {}
    generated = client.post(
        f"{AGENTS}generate",
        json={
            "requirement": "A tutor",
            "target_agent_type": "teacher",
            "course_id": world.course_id,
        },
        headers=_as(world, "co_teacher"),
    )
    assert generated.status_code == 200, generated.text
    assert scripted.gets[-1] == ("openai", None, ATTACKER)  # no key went with the new URL
    listed = client.get(f"{AGENTS}{world.course_id}", headers=_as(world, "owner")).json()
    assert [c["dropped_keys"] for c in listed] == [[]]  # a report of that request only


@pytest.mark.parametrize(
    "body",
    [{"model_provider": "gemini"}, {"base_url": None}, {"base_url": ""}],
    ids=["provider", "base-url-null", "base-url-empty"],
)
def test_any_endpoint_change_drops_every_key(client, world: World, body: dict):
    config = _keyed_config(client, world)

    moved = client.put(f"{AGENTS}{config['id']}", json=body, headers=_as(world, "owner"))

    assert moved.status_code == 200, moved.text
    assert moved.json()["dropped_keys"] == ALL_KEYS
    assert _masks(client, world, config["id"]) == {}


def test_a_key_sent_with_the_change_is_kept_and_a_mask_is_not(client, world: World):
    config = _keyed_config(client, world)
    new_key = "sk-for-the-new-server-000077"

    with_key = client.put(
        f"{AGENTS}{config['id']}",
        json={"base_url": ATTACKER, "api_key": new_key},
        headers=_as(world, "owner"),
    )
    assert with_key.status_code == 200, with_key.text
    assert with_key.json()["masked_api_key"] == "sk-…77"
    assert with_key.json()["dropped_keys"] == ["room_key", "global_key", "backup_key"]
    assert _masks(client, world, config["id"]) == {"api_key": "sk-…77"}

    # The SPA sends the whole form back, the mask included: the mask is no key.
    form = {**with_key.json(), "base_url": "https://other.example.com/v1"}
    resent = client.put(f"{AGENTS}{config['id']}", json=form, headers=_as(world, "owner"))
    assert resent.status_code == 200, resent.text
    assert resent.json()["dropped_keys"] == ["api_key"]
    assert _masks(client, world, config["id"]) == {}


def test_the_whole_form_sent_back_unchanged_keeps_every_key(client, world: World):
    config = _keyed_config(client, world)
    form = client.get(f"{AGENTS}{world.course_id}", headers=_as(world, "owner")).json()[0]

    saved = client.put(
        f"{AGENTS}{config['id']}",
        json={**form, "system_prompt": "Edited."},
        headers=_as(world, "owner"),
    )

    assert saved.status_code == 200, saved.text
    assert saved.json()["dropped_keys"] == []
    assert set(_masks(client, world, config["id"])) == set(ALL_KEYS)


def test_the_upserts_and_a_restore_drop_the_keys_too(client, world: World):
    config = _keyed_config(client, world)
    version = client.post(
        f"{LEGACY}{config['id']}/versions", json={}, headers=_as(world, "owner")
    ).json()

    upserted = client.put(
        f"{LEGACY}{world.course_id}/teacher",
        json={"type": "teacher", "system_prompt": "P", "model_provider": "openai"},
        headers=_as(world, "co_teacher"),
    )  # the create shape: base_url absent means none, a change
    assert upserted.status_code == 200, upserted.text
    assert upserted.json()["dropped_keys"] == ALL_KEYS

    stored = client.put(
        f"{AGENTS}{config['id']}/keys", json={"api_key": OWNER_KEY}, headers=_as(world, "owner")
    )
    assert stored.status_code == 200, stored.text
    restored = client.post(
        f"{LEGACY}{config['id']}/versions/{version['id']}/restore", headers=_as(world, "owner")
    )
    assert restored.status_code == 200, restored.text
    assert restored.json()["base_url"] == "https://llm.example.org/v1"
    assert restored.json()["dropped_keys"] == ["api_key"]
    assert _masks(client, world, config["id"]) == {}

    system = client.put(
        f"{AGENTS}system/design",
        json={
            "type": "design",
            "system_prompt": "S",
            "model_provider": "openai",
            "api_key": OWNER_KEY,
        },
        headers=_as(world, "admin"),
    )
    assert system.status_code == 200, system.text
    moved = client.put(
        f"{AGENTS}system/design",
        json={"type": "design", "system_prompt": "S", "model_provider": "gemini"},
        headers=_as(world, "admin"),
    )
    assert moved.json()["dropped_keys"] == ["api_key"]


@pytest.mark.parametrize("base_url", INTERNAL)
def test_an_internal_base_url_is_a_422_and_nothing_changes(client, world: World, base_url: str):
    config = _keyed_config(client, world)
    attempts = [
        client.put(
            f"{AGENTS}{config['id']}", json={"base_url": base_url}, headers=_as(world, "owner")
        ),
        client.post(
            f"{AGENTS}{world.course_id}",
            json={"type": "student", "system_prompt": "P", "base_url": base_url},
            headers=_as(world, "owner"),
        ),
        client.put(
            f"{LEGACY}{world.course_id}/teacher",
            json={"type": "teacher", "system_prompt": "P", "base_url": base_url},
            headers=_as(world, "owner"),
        ),
        client.put(
            f"{AGENTS}system/design",
            json={"type": "design", "system_prompt": "P", "base_url": base_url},
            headers=_as(world, "admin"),
        ),
    ]

    for response in attempts:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "LLM_ALLOWED_HOSTS" in response.json()["detail"]
    listed = client.get(f"{AGENTS}{world.course_id}", headers=_as(world, "owner")).json()
    assert [c["base_url"] for c in listed] == ["https://llm.example.org/v1"]
    assert set(_masks(client, world, config["id"])) == set(ALL_KEYS)


def test_the_openapi_document_says_so(client):
    document = client.get("/api/v1/openapi.json").json()
    read = document["components"]["schemas"]["AgentConfigRead"]
    assert "dropped_keys" in read["properties"]
    assert "base_url" in read["properties"]["dropped_keys"]["description"]
    for path, method in (
        ("/api/v1/agents/{id}", "put"),
        ("/api/v1/agent-config/{course_id}/{agent_type}", "put"),
        ("/api/v1/agents/system/{agent_type}", "put"),
        ("/api/v1/agent-config/{config_id}/versions/{version_id}/restore", "post"),
    ):
        description = document["paths"][path][method]["description"]
        assert "dropped_keys" in description, path
