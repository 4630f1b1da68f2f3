"""The msgspec wire formats of trigger_config and schedule_config: conversions, decoding and
how they render in the OpenAPI document."""

import json
import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar, post
from litestar.params import JSONBody
from litestar.testing import TestClient

from coagent.adapters.http.agents.trigger_schemas import (
    TIME_ZONE_PATTERN,
    ManualTrigger,
    MentionTrigger,
    MessageCountTrigger,
    ProbabilityTrigger,
    ScheduleConfig,
    ScheduleGeneral,
    ScheduleRule,
    ScheduleSpecificDate,
    SilenceTrigger,
    TimeIntervalTrigger,
    TriggerConfig,
    schedule_from_schema,
    schedule_to_schema,
    trigger_from_schema,
    trigger_to_schema,
)
from coagent.adapters.http.problems import EXCEPTION_HANDLERS
from coagent.domain.agents.schedule import (
    ScheduleMode,
    parse_schedule,
    schedule_to_dict,
    time_zone_names,
)
from coagent.domain.agents.trigger import DEFAULT_TRIGGER, Trigger, TriggerType
from coagent.domain.errors import InvalidInput

TRIGGER_STRUCTS = [
    MentionTrigger,
    ProbabilityTrigger,
    MessageCountTrigger,
    TimeIntervalTrigger,
    SilenceTrigger,
    ManualTrigger,
]
FULL_SCHEDULE: dict[str, object] = {
    "timezone": "Europe/Berlin",
    "specific": [{"date": "2025-03-14", "start": "22:00", "end": "02:00"}],
    "general": {
        "mode": "range_weekly",
        "start_date": "2025-03-01",
        "end_date": None,
        "rules": [{"start_time": "09:00", "end_time": "12:00", "days": [0, 4]}],
    },
}


def weekly(**rule: object) -> dict[str, object]:
    return {"general": {"mode": "range_weekly", "rules": [{"start_time": "09:00", **rule}]}}


def on(day: str = "2025-03-14", start: str = "10:00", end: str = "11:00") -> dict[str, object]:
    return {"specific": [{"date": day, "start": start, "end": end}]}


class AgentBody(msgspec.Struct, forbid_unknown_fields=True):
    trigger_config: TriggerConfig | None = None
    schedule_config: ScheduleConfig | None = None


class AgentRead(msgspec.Struct):
    trigger_config: TriggerConfig
    schedule_config: ScheduleConfig | None


@post("/agents", operation_id="SaveAgent", status_code=200)
async def save_agent(data: JSONBody[AgentBody]) -> AgentRead:
    trigger = trigger_from_schema(data.trigger_config)
    schedule = schedule_from_schema(data.schedule_config)
    return AgentRead(
        trigger_config=trigger_to_schema(trigger), schedule_config=schedule_to_schema(schedule)
    )


def build_app() -> Litestar:
    # Imported here so that the conversion tests run even while another controller is broken:
    # app.py imports every controller.
    from coagent.adapters.http.struct_schemas import complete_struct_schemas  # noqa: PLC0415

    app = Litestar([save_agent], exception_handlers=EXCEPTION_HANDLERS)
    complete_struct_schemas(app)
    return app


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    with TestClient(build_app()) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    schemas: dict[str, Any] = build_app().openapi_schema.to_schema()["components"]["schemas"]
    return schemas


# Conversions.

TRIGGERS = [
    Trigger(type=TriggerType.MENTION),
    Trigger(type=TriggerType.MANUAL),
    Trigger(type=TriggerType.PROBABILITY),
    Trigger(type=TriggerType.PROBABILITY, value=0.3),
    Trigger(type=TriggerType.MESSAGE_COUNT, value=7),
    Trigger(type=TriggerType.TIME_INTERVAL, value=600),
    Trigger(type=TriggerType.SILENCE, value=45),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: f"{t.type}-{t.value}")
def test_a_trigger_survives_the_wire(trigger: Trigger) -> None:
    struct = trigger_to_schema(trigger)
    decoded = msgspec.json.decode(msgspec.json.encode(struct), type=TriggerConfig | None)

    assert type(struct).__name__.lower().startswith(trigger.type.value.replace("_", ""))
    assert msgspec.to_builtins(struct) == {"type": trigger.type.value, "value": trigger.value}
    assert trigger_from_schema(decoded) == trigger


def test_null_is_the_default_trigger_and_reads_back_as_an_object() -> None:
    assert trigger_from_schema(None) == DEFAULT_TRIGGER
    assert msgspec.to_builtins(trigger_to_schema(trigger_from_schema(None))) == {
        "type": "probability",
        "value": None,
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"type": "message_count"}', Trigger(type=TriggerType.MESSAGE_COUNT, value=10)),
        (b'{"type": "silence"}', Trigger(type=TriggerType.SILENCE, value=60)),
        (b'{"type": "time_interval"}', Trigger(type=TriggerType.TIME_INTERVAL, value=60)),
        (b'{"type": "probability"}', Trigger(type=TriggerType.PROBABILITY)),
        (b'{"type": "probability", "value": 1}', Trigger(type=TriggerType.PROBABILITY, value=1.0)),
        (b'{"type": "mention", "value": null}', Trigger(type=TriggerType.MENTION)),
        (b"null", DEFAULT_TRIGGER),
    ],
)
def test_decoding_fills_the_documented_defaults(body: bytes, expected: Trigger) -> None:
    decoded = msgspec.json.decode(body, type=TriggerConfig | None)

    assert trigger_from_schema(decoded) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{}", "Object missing required field `type`"),
        (b'{"type": "cron"}', "Invalid value 'cron'"),
        (b'{"type": "message_count", "value": 0}', "Expected `int` >= 1"),
        (b'{"type": "message_count", "value": 1001}', "Expected `int` <= 1000"),
        (b'{"type": "message_count", "value": 2.5}', "Expected `int`, got `float`"),
        (b'{"type": "silence", "value": 9}', "Expected `int` >= 10"),
        (b'{"type": "time_interval", "value": 86401}', "Expected `int` <= 86400"),
        (b'{"type": "probability", "value": -0.1}', "Expected `float` >= 0.0"),
        (b'{"type": "probability", "value": 1.5}', "Expected `float` <= 1.0"),
        (b'{"type": "probability", "value": true}', "Expected `float | null`, got `bool`"),
        (b'{"type": "mention", "value": 3}', "Expected `null`, got `int`"),
        (b'{"type": "silence", "value": 60, "extra": 1}', "Object contains unknown field `extra`"),
    ],
)
def test_decoding_rejects_what_the_types_forbid(body: bytes, message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message.replace("$", r"\$")):
        msgspec.json.decode(body, type=TriggerConfig | None)


def test_a_schedule_survives_the_wire() -> None:
    schedule = parse_schedule(FULL_SCHEDULE)
    struct = schedule_to_schema(schedule)
    decoded = msgspec.json.decode(msgspec.json.encode(struct), type=ScheduleConfig | None)

    assert msgspec.to_builtins(struct) == FULL_SCHEDULE
    assert decoded == struct
    assert schedule_from_schema(decoded) == schedule


def test_no_schedule_is_null_both_ways() -> None:
    assert schedule_from_schema(None) is None
    assert schedule_to_schema(None) is None


def test_an_empty_schedule_object_means_always_on_duty() -> None:
    schedule = schedule_from_schema(msgspec.json.decode(b"{}", type=ScheduleConfig))

    assert schedule is not None
    assert schedule.general.mode is ScheduleMode.NONE
    assert schedule_to_dict(schedule) == {
        "timezone": None,
        "specific": [],
        "general": {"mode": "none", "start_date": None, "end_date": None, "rules": []},
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"timezone": "Atlantis/Capital"},
            "schedule_config.timezone: unknown time zone 'Atlantis/Capital'",
        ),
        (
            weekly(end_time="10:00", days=[1, 1]),
            "schedule_config.general.rules[0].days[1]: weekday 1 is listed twice",
        ),
    ],
)
def test_the_domain_rejects_what_the_types_allow(body: dict[str, object], message: str) -> None:
    decoded = msgspec.convert(body, ScheduleConfig)

    with pytest.raises(InvalidInput) as caught:
        schedule_from_schema(decoded)
    assert message in caught.value.detail


@pytest.mark.parametrize(
    "body",
    [
        {"general": {"mode": "none", "start_date": "2025-03-02", "end_date": "2025-03-01"}},
        {"general": {"mode": "range_daily"}},
        {"general": {"mode": "range_weekly", "rules": []}},
        weekly(end_time="10:00"),  # no weekdays
        on(end="10:00"),  # 24 hours from 10:00
    ],
)
def test_what_the_types_allow_and_covers_nothing_or_a_day_is_accepted(
    body: dict[str, object],
) -> None:
    schedule = schedule_from_schema(msgspec.convert(body, ScheduleConfig))

    assert schedule is not None
    assert schedule_to_schema(schedule) == msgspec.convert(
        schedule_to_dict(schedule), ScheduleConfig
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"mode": "range_daily"}, "Object contains unknown field `mode`"),
        ({"timezone": ""}, "Expected `str` of length >= 1"),
        (on(day="2025-02-30"), "Invalid RFC3339 encoded date"),
        (on(start="24:00"), "Expected `str` matching regex"),
        (on(end="24:01"), "Expected `str` matching regex"),
        ({"general": {"mode": "weekly"}}, "Invalid enum value 'weekly'"),
        (
            {"general": {"mode": "none", "rules": [{"start_time": "9:00", "end_time": "10:00"}]}},
            "matching regex",
        ),
        (weekly(end_time="10:00", days=[7]), "Expected `int` <= 6"),
    ],
)
def test_schedule_decoding_rejects_what_the_types_forbid(
    body: dict[str, object], message: str
) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.json.decode(msgspec.json.encode(body), type=ScheduleConfig)


# Over HTTP.


def test_a_null_trigger_reads_back_as_the_default_object(client: TestClient[Litestar]) -> None:
    response = client.post("/agents", json={"trigger_config": None, "schedule_config": None})

    assert response.status_code == 200
    assert response.json() == {
        "trigger_config": {"type": "probability", "value": None},
        "schedule_config": None,
    }


def test_typed_configs_round_trip_over_http(client: TestClient[Litestar]) -> None:
    body = {"trigger_config": {"type": "silence", "value": 120}, "schedule_config": FULL_SCHEDULE}

    response = client.post("/agents", json=body)

    assert response.status_code == 200
    assert response.json() == body


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"schedule_config": {"timezone": "Nowhere/Town"}}, "schedule_config.timezone: unknown"),
        (
            {
                "schedule_config": {
                    "general": {
                        "rules": [{"start_time": "09:00", "end_time": "10:00", "days": [2, 2]}]
                    }
                }
            },
            "weekday 2 is listed twice",
        ),
    ],
)
def test_domain_rejections_are_422_with_a_detail(
    client: TestClient[Litestar], body: dict[str, object], detail: str
) -> None:
    response = client.post("/agents", json=body)

    assert response.status_code == 422
    assert detail in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"trigger_config": {"type": "message_count", "value": 0}}, "trigger_config.value"),
        ({"trigger_config": {"type": "sometimes"}}, "trigger_config.type"),
        ({"schedule_config": {"general": {"mode": "weekly"}}}, "schedule_config.general.mode"),
    ],
)
def test_type_rejections_are_422_naming_the_field(
    client: TestClient[Litestar], body: dict[str, object], key: str
) -> None:
    response = client.post("/agents", json=body)

    assert response.status_code == 422
    problem = response.json()
    assert any(key in str(error) for error in problem.get("errors", [])), problem


# The OpenAPI document.


def test_the_trigger_union_lists_one_struct_per_type(components: dict[str, Any]) -> None:
    union = components["AgentBody"]["properties"]["trigger_config"]["oneOf"]
    refs = {item.get("$ref", "").rsplit("/", 1)[-1] for item in union}

    assert refs == {struct.__name__ for struct in TRIGGER_STRUCTS} | {""}
    tags = {
        components[struct.__name__]["properties"]["type"]["const"] for struct in TRIGGER_STRUCTS
    }
    assert tags == {member.value for member in TriggerType}
    for struct in TRIGGER_STRUCTS:
        assert components[struct.__name__]["required"] == ["type"]


@pytest.mark.parametrize(
    ("struct", "minimum", "maximum", "default"),
    [
        (MessageCountTrigger, 1, 1000, 10),
        (TimeIntervalTrigger, 10, 86_400, 60),
        (SilenceTrigger, 10, 86_400, 60),
    ],
)
def test_trigger_values_carry_their_bounds(
    components: dict[str, Any], struct: type, minimum: int, maximum: int, default: int
) -> None:
    value = components[struct.__name__]["properties"]["value"]

    assert value["type"] == "integer"
    assert (value["minimum"], value["maximum"], value["default"]) == (minimum, maximum, default)


def test_the_probability_keeps_its_zero_lower_bound(components: dict[str, Any]) -> None:
    value = components["ProbabilityTrigger"]["properties"]["value"]

    assert value["minimum"] == 0
    assert value["maximum"] == 1
    assert {"type": "null"} in value["oneOf"]


def test_the_schedule_documents_its_time_zone_and_modes(components: dict[str, Any]) -> None:
    timezone = components["ScheduleConfig"]["properties"]["timezone"]

    assert {"type": "string"} in timezone["oneOf"]
    assert {"type": "null"} in timezone["oneOf"]
    assert (timezone["minLength"], timezone["maxLength"]) == (1, 64)
    assert timezone["examples"] == ["Europe/Berlin"]
    assert "IANA" in timezone["description"]
    assert components["ScheduleMode"]["enum"] == ["none", "range_daily", "range_weekly"]
    assert components["ScheduleGeneral"]["properties"]["mode"] == {
        "$ref": "#/components/schemas/ScheduleMode"
    }


def test_the_time_zone_is_a_documented_string_checked_by_the_domain(
    components: dict[str, Any],
) -> None:
    timezone = components["ScheduleConfig"]["properties"]["timezone"]

    # No inline enum of ~600 names (generated SDKs broke on it): a pattern and a pointer.
    assert "enum" not in json.dumps(timezone)
    assert timezone["pattern"] == TIME_ZONE_PATTERN
    assert "/api/v1/meta/timezones" in timezone["description"]
    for name in time_zone_names():
        assert re.fullmatch(TIME_ZONE_PATTERN, name), name
        assert schedule_from_schema(ScheduleConfig(timezone=name)) is not None
    # The pattern admits names the server does not know; the domain refuses them.
    assert re.fullmatch(TIME_ZONE_PATTERN, "Mars/Olympus_Mons")
    with pytest.raises(InvalidInput, match="unknown time zone"):
        schedule_from_schema(ScheduleConfig(timezone="Mars/Olympus_Mons"))
    with pytest.raises(InvalidInput, match="unknown time zone"):
        schedule_from_schema(ScheduleConfig(timezone="europe/berlin"))


def test_every_trigger_type_defaults_to_its_own_tag(components: dict[str, Any]) -> None:
    # So a generated SDK's caller does not repeat the tag.
    for struct in TRIGGER_STRUCTS:
        tag = struct.__struct_config__.tag
        type_schema = components[struct.__name__]["properties"]["type"]
        assert type_schema["default"] == tag, struct
        assert "type" in components[struct.__name__]["required"]


def test_every_schedule_and_trigger_struct_forbids_unknown_fields_in_the_schema(
    components: dict[str, Any],
) -> None:
    schedule = [ScheduleSpecificDate, ScheduleRule, ScheduleGeneral, ScheduleConfig]
    structs = [*TRIGGER_STRUCTS, *schedule]
    for struct in structs:
        assert struct.__struct_config__.forbid_unknown_fields, struct
        assert components[struct.__name__]["additionalProperties"] is False, struct


def test_schedule_times_dates_and_days_are_constrained(components: dict[str, Any]) -> None:
    rule = components["ScheduleRule"]["properties"]
    specific = components["ScheduleSpecificDate"]["properties"]

    assert rule["start_time"]["pattern"] == r"^([01]\d|2[0-3]):[0-5]\d$"
    assert rule["end_time"]["pattern"] == r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"
    assert specific["date"] == {"type": "string", "format": "date"}
    assert rule["days"]["items"] == {"type": "integer", "minimum": 0, "maximum": 6}
    assert rule["days"]["uniqueItems"] is True
    assert rule["days"]["maxItems"] == 7
    assert sorted(components["ScheduleSpecificDate"]["required"]) == ["date", "end", "start"]
