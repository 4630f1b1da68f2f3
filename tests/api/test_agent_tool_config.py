"""The configuration fields of issue 17 over HTTP: `tools`, `tool_bounds` and
`interrupt_policy` default, round trip (create, partial update, the SPA's whole-object PUT,
versions) and are refused with a 422 that changes nothing when invalid.
"""

import pytest

from tests.api.conftest import World
from tests.api.test_agents import AGENTS, KEY, LEGACY, _create

TOOLED = {
    "tools": ["update_trigger"],
    "tool_bounds": {"message_count": {"min": 3, "max": 20}, "silence": {"min": 600, "max": 30}},
    "interrupt_policy": "interrupt",
}


@pytest.fixture
def config(client, world: World) -> dict:
    response = _create(client, world, api_key=KEY)
    assert response.status_code == 201, response.text
    body: dict = response.json()
    return body


def test_a_configuration_reads_back_with_no_tools_and_the_queue_policy(config: dict) -> None:
    assert config["tools"] == []
    assert config["tool_bounds"] == {}
    assert config["interrupt_policy"] == "queue"


def test_tools_bounds_and_policy_round_trip(client, world: World) -> None:
    owner = world.sessions["owner"].headers
    created = _create(client, world, api_key=KEY, **TOOLED)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {key: body[key] for key in TOOLED} == TOOLED
    # a partial update keeps them; the whole object sent back keeps them
    kept = client.put(f"{AGENTS}{body['id']}", json={"system_prompt": "Hi."}, headers=owner)
    assert {key: kept.json()[key] for key in TOOLED} == TOOLED
    whole = client.put(f"{AGENTS}{body['id']}", json=kept.json(), headers=owner)
    assert whole.status_code == 200, whole.text
    assert {key: whole.json()[key] for key in TOOLED} == TOOLED
    # and a version snapshots them
    version = client.post(f"{LEGACY}{body['id']}/versions", json={}, headers=owner)
    assert version.status_code == 201, version.text
    assert {key: version.json()[key] for key in TOOLED} == TOOLED
    # cleared
    cleared = client.put(
        f"{AGENTS}{body['id']}",
        json={"tools": [], "tool_bounds": None, "interrupt_policy": "queue"},
        headers=owner,
    ).json()
    assert (cleared["tools"], cleared["tool_bounds"], cleared["interrupt_policy"]) == (
        [],
        {},
        "queue",
    )


def test_duplicate_tool_names_are_stored_once(client, world: World, config: dict) -> None:
    owner = world.sessions["owner"].headers
    body = client.put(
        f"{AGENTS}{config['id']}",
        json={"tools": ["update_trigger", "update_trigger"]},
        headers=owner,
    ).json()
    assert body["tools"] == ["update_trigger"]


@pytest.mark.parametrize(
    "bad",
    [
        {"tools": ["web_search"]},
        {"tools": "update_trigger"},
        {"tools": [None]},
        {"tool_bounds": {"mention": {"min": 1, "max": 2}}},
        {"tool_bounds": {"message_count": {"min": 0, "max": 3}}},
        {"tool_bounds": {"message_count": {"min": 3}}},
        {"tool_bounds": {"message_count": {"min": 3, "max": 5, "step": 1}}},
        {"tool_bounds": {"message_count": {"min": 2.5, "max": 5}}},
        {"tool_bounds": {"silence": {"min": 5, "max": 60}}},
        {"tool_bounds": {"probability": {"min": 0.5, "max": 1.5}}},
        {"tool_bounds": []},
        {"interrupt_policy": "shout"},
        {"interrupt_policy": None},
    ],
)
def test_invalid_tool_fields_are_422_and_change_nothing(
    client, world: World, config: dict, bad: dict
) -> None:
    owner = world.sessions["owner"].headers
    response = client.put(f"{AGENTS}{config['id']}", json=bad, headers=owner)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    listed = client.get(f"{AGENTS}{world.course_id}", headers=owner).json()
    assert listed == [config]
    created = _create(client, world, name="Another", **bad)
    assert created.status_code == 422, created.text


def test_the_openapi_document_states_the_tool_fields_exactly(client) -> None:
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    for name in ("ToolBoundsConfig", "CountBound", "SecondsBound", "ChanceBound"):
        assert schemas[name]["additionalProperties"] is False, name
    assert set(schemas["ToolBoundsConfig"]["properties"]) == {
        "message_count",
        "time_interval",
        "silence",
        "probability",
    }
    count = schemas["CountBound"]["properties"]["min"]
    assert (count["minimum"], count["maximum"]) == (1, 1000)
