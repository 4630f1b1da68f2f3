"""The design agent, POST /api/v1/agents/generate, over HTTP with scripted providers.

The container's provider registry is replaced by `ScriptedProviders`, so every test sees
which provider, key, base URL, model and messages reached the provider port. The end-to-end
run with the real offline provider and the authorization matrix live in `test_agents.py`.
"""

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import TestClient

from coagent.application.agents.generate_prompt import DEFAULT_META_PROMPT
from coagent.application.ports.llm import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderBadResponse,
    ProviderEndpointRefused,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from coagent.main.app import create_app
from coagent.main.compose.infra import Overrides
from coagent.main.settings import Settings
from tests.api.conftest import World
from tests.conftest import make_settings
from tests.fakes.llm import ScriptedLLM, ScriptedProviders, reply

GENERATE = "/api/v1/agents/generate"
AGENTS = "/api/v1/agents/"
STORED_KEY = "sk-stored-0123456789abcdef-11"
COURSE_KEY = "sk-course-0123456789abcdef-22"
REQUEST_KEY = "sk-request-0123456789abcdef-33"
CUSTOM_KEY = "sk-custom-0123456789abcdef-44"
TIMEOUT = 7
RETRIES = 1
BODY = {
    "requirement": "A Socratic tutor for week 3",
    "target_agent_type": "teacher",
    "course_context": "Ethics 101: utilitarianism",
}


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, pg: str, redis_url: str) -> Settings:
    """Plus the settings a test passes (indirect parametrize)."""
    extra: dict[str, Any] = getattr(request, "param", {})
    return make_settings(
        tmp_path,
        DATABASE_URL=pg,
        REDIS_URL=redis_url,
        LLM_TIMEOUT_SECONDS=TIMEOUT,
        LLM_MAX_RETRIES=RETRIES,
        **extra,
    )


@pytest.fixture
def scripted() -> ScriptedProviders:
    return ScriptedProviders(ScriptedLLM(default=reply("You are a Socratic tutor.")))


@pytest.fixture
def client(settings: Settings, scripted: ScriptedProviders) -> Iterator[TestClient[Any]]:
    app = create_app(settings, Overrides(llm=scripted))
    with TestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client
    assert scripted.closed  # the container closes its providers on shutdown


@pytest.fixture
def system_design(client, world: World) -> dict:
    """The admins' design configuration: openai, a model, a meta-prompt and a key."""
    response = client.put(
        f"{AGENTS}system/design",
        json={
            "type": "design",
            "system_prompt": "SYSTEM META",
            "model_provider": "openai",
            "model": "gpt-system",
            "api_key": STORED_KEY,
        },
        headers=world.sessions["admin"].headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def course_design(client, world: World) -> dict:
    response = client.post(
        f"{AGENTS}{world.course_id}",
        json={
            "type": "design",
            "system_prompt": "COURSE META",
            "model_provider": "gemini",
            "model": "gemini-course",
            "api_key": COURSE_KEY,
        },
        headers=world.sessions["owner"].headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["is_active"] is True
    return response.json()


def _generate(client, world: World, caller: str = "owner", **fields: Any):
    return client.post(GENERATE, json={**BODY, **fields}, headers=world.sessions[caller].headers)


def _last_call(scripted: ScriptedProviders) -> tuple[tuple[str, str | None, str | None], Any]:
    llm = scripted.offline if scripted.gets[-1][0] == "offline" else scripted.llm
    return scripted.gets[-1], llm.requests[-1]


# --- which configuration ------------------------------------------------------------------


def test_built_in_defaults_when_no_design_configuration_exists(client, world, scripted):
    response = _generate(client, world, caller="other_teacher")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "generated_prompt": "[offline reply] ok",
        "provider": "offline",
        "model": "scripted-model",
        "offline": True,
        "config_id": None,
    }
    (provider, key, base_url), request = _last_call(scripted)
    assert (provider, key, base_url) == ("offline", None, None)
    assert request.model == "offline"
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[0].content == DEFAULT_META_PROMPT
    assert scripted.llm.requests == []


def test_the_system_configuration_is_used_with_its_model_prompt_and_key(
    client, world, scripted, system_design
):
    response = _generate(client, world, caller="other_teacher")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["generated_prompt"] == "You are a Socratic tutor."
    assert (body["provider"], body["offline"], body["config_id"]) == (
        "openai",
        False,
        system_design["id"],
    )
    (provider, key, base_url), request = _last_call(scripted)
    assert (provider, key, base_url) == ("openai", STORED_KEY, None)
    assert request.model == "gpt-system"
    assert request.messages[0].content == "SYSTEM META"
    assert (request.timeout, request.max_tokens) == (TIMEOUT, 2048)
    user = request.messages[1]
    assert user.role == "user"
    assert "<requirement>\nA Socratic tutor for week 3\n</requirement>" in user.content
    assert "<target_agent_type>\nteacher\n</target_agent_type>" in user.content
    assert "<course_context>\nEthics 101: utilitarianism\n</course_context>" in user.content


def test_the_course_configuration_wins_over_the_system_one(
    client, world, scripted, system_design, course_design
):
    response = _generate(client, world, course_id=world.course_id)
    assert response.status_code == 200, response.text
    assert response.json()["config_id"] == course_design["id"]
    (provider, key, _), request = _last_call(scripted)
    assert (provider, key) == ("gemini", COURSE_KEY)
    assert (request.model, request.messages[0].content) == ("gemini-course", "COURSE META")
    # Without course_id, the same teacher gets the system configuration.
    assert _generate(client, world).json()["config_id"] == system_design["id"]
    assert scripted.gets[-1] == ("openai", STORED_KEY, None)


def test_a_course_without_a_design_configuration_falls_back_to_the_system_one(
    client, world, scripted, system_design
):
    response = _generate(client, world, caller="co_teacher", course_id=world.course_id)
    assert response.status_code == 200, response.text
    assert response.json()["config_id"] == system_design["id"]
    assert scripted.gets[-1] == ("openai", STORED_KEY, None)


def test_a_stored_base_url_goes_with_its_provider(client, world, scripted):
    response = client.put(
        f"{AGENTS}system/design",
        json={
            "type": "design",
            "system_prompt": "LOCAL META",
            "model_provider": "openai",
            "model": "llama3.1:8b",
            "base_url": "http://localhost:11434/v1",
        },
        headers=world.sessions["admin"].headers,
    )
    assert response.status_code == 200, response.text
    generated = _generate(client, world)
    assert generated.status_code == 200, generated.text  # a local server needs no key
    (provider, key, base_url), request = _last_call(scripted)
    assert (provider, key, base_url) == ("openai", None, "http://localhost:11434/v1")
    assert request.model == "llama3.1:8b"
    # Another provider never gets the stored endpoint.
    _generate(client, world, custom_provider="gemini", custom_api_key=CUSTOM_KEY)
    assert scripted.gets[-1] == ("gemini", CUSTOM_KEY, None)


# --- overrides ----------------------------------------------------------------------------


def test_custom_prompt_and_model_override_the_stored_ones(client, world, scripted, system_design):
    response = _generate(client, world, custom_system_prompt="MY META", custom_model="gpt-mine")
    assert response.status_code == 200, response.text
    (provider, key, _), request = _last_call(scripted)
    assert (provider, key) == ("openai", STORED_KEY)  # keys stay the stored ones
    assert (request.model, request.messages[0].content) == ("gpt-mine", "MY META")
    # Blank or empty overrides count as not sent.
    _generate(client, world, custom_system_prompt="   ", custom_model="")
    _, request = _last_call(scripted)
    assert (request.model, request.messages[0].content) == ("gpt-system", "SYSTEM META")


def test_request_keys_come_before_stored_ones(client, world, scripted, system_design):
    assert _generate(client, world, api_key=REQUEST_KEY).status_code == 200
    assert scripted.gets[-1] == ("openai", REQUEST_KEY, None)
    both = _generate(client, world, api_key=REQUEST_KEY, custom_api_key=CUSTOM_KEY)
    assert both.status_code == 200
    assert scripted.gets[-1] == ("openai", CUSTOM_KEY, None)
    assert _generate(client, world, api_key="", custom_api_key="").status_code == 200
    assert scripted.gets[-1] == ("openai", STORED_KEY, None)


def test_another_provider_never_gets_the_stored_key(client, world, scripted, system_design):
    refused = _generate(client, world, custom_provider="gemini")
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("No API key for provider gemini")
    assert all(provider != "gemini" for provider, *_ in scripted.gets)
    legacy = _generate(client, world, provider="gemini", api_key=REQUEST_KEY)
    assert legacy.status_code == 200, legacy.text
    (provider, key, _), request = _last_call(scripted)
    assert (provider, key, request.model) == ("gemini", REQUEST_KEY, "gemini-2.5-flash")
    assert request.messages[0].content == "SYSTEM META"  # the meta-prompt is not per provider
    custom = _generate(
        client, world, provider="gemini", custom_provider="openai", custom_api_key=CUSTOM_KEY
    )
    assert custom.json()["provider"] == "openai"  # custom_provider wins over provider
    assert scripted.gets[-1] == ("openai", CUSTOM_KEY, None)


def test_custom_provider_offline_needs_no_key(client, world, scripted, system_design):
    response = _generate(client, world, custom_provider="offline")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["provider"], body["offline"]) == ("offline", True)
    assert body["generated_prompt"].startswith("[offline reply]")
    (provider, key, _), request = _last_call(scripted)
    assert (provider, key, request.model) == ("offline", None, "offline")
    assert scripted.llm.requests == []


@pytest.mark.parametrize(
    "settings",
    [{"LLM_CALLS_PER_USER_PER_MINUTE": 2, "LLM_CALLS_PER_COURSE_PER_MINUTE": 3}],
    indirect=True,
)
def test_model_calls_are_limited_per_user_and_per_course(client, world, scripted):
    for _ in range(2):
        assert _generate(client, world, course_id=world.course_id).status_code == 200
    by_owner = _generate(client, world)
    assert (
        _generate(client, world, caller="co_teacher", course_id=world.course_id).status_code == 200
    )
    by_course = _generate(client, world, caller="admin", course_id=world.course_id)
    for response in (by_owner, by_course):
        assert response.status_code == 429
        assert response.headers["content-type"].startswith("application/problem+json")
        assert 50 <= int(response.headers["retry-after"]) <= 60
    assert "from you" in by_owner.json()["detail"]
    assert "in this course" in by_course.json()["detail"]
    assert len(scripted.offline.requests) == 3  # refused calls reached no provider
    # The admin, refused for the course, may still call without it.
    assert _generate(client, world, caller="admin").status_code == 200


def test_no_key_for_a_provider_that_needs_one_is_422(client, world, scripted):
    client.put(
        f"{AGENTS}system/design",
        json={"type": "design", "system_prompt": "x", "model_provider": "gemini"},
        headers=world.sessions["admin"].headers,
    )
    response = _generate(client, world)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    assert detail.startswith("No API key for provider gemini")
    assert "custom_provider offline" in detail
    assert scripted.gets == []
    assert _generate(client, world, custom_provider="openai").status_code == 422


# --- who ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "with_course", "status"),
    [
        ("guest", False, 403),
        ("student", False, 403),
        ("ta", False, 403),  # a global student with a TA seat
        ("other_teacher", False, 200),
        ("admin", False, 200),
        ("guest", True, 404),
        ("other_teacher", True, 404),
        ("other_student", True, 404),
        ("student", True, 403),
        ("ta", True, 403),
        ("co_teacher", True, 200),
        ("owner", True, 200),
        ("super_admin", True, 200),
    ],
)
def test_who_may_use_it(client, world, scripted, caller, with_course, status):
    extra = {"course_id": world.course_id} if with_course else {}
    response = _generate(client, world, caller=caller, **extra)
    assert response.status_code == status, response.text
    if status >= 400:
        assert scripted.gets == []  # refused before any provider call
    if status == 404:
        assert response.json()["detail"] == "Course not found"
    if status == 403:
        assert "generated_prompt" not in response.text


def test_anonymous_callers_and_missing_courses(client, world, scripted):
    assert client.post(GENERATE, json=BODY).status_code == 401
    missing = _generate(
        client, world, caller="admin", course_id="0190c2a4-0000-7000-8000-000000000000"
    )
    assert missing.status_code == 404
    assert scripted.gets == []


# --- provider failures are problems, never a 200 ------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "attempts"),
    [
        (ProviderAuthError("openai: the API key was rejected"), 502, 1),
        (ProviderBadRequest("openai: unknown model"), 502, 1),
        (
            ProviderBadResponse("openai answered with a body that is not a valid API response"),
            502,
            1,
        ),
        (ProviderEndpointRefused("openai: base_url resolves to a refused address"), 502, 1),
        (ProviderUnavailable("openai: the service is unavailable"), 503, 1 + RETRIES),
        (ProviderTimeout("openai: no answer in time"), 504, 1 + RETRIES),
    ],
)
def test_provider_failures_are_problem_responses(
    client, world, scripted, system_design, error, status, attempts
):
    scripted.llm.default = None
    scripted.llm.then(*[error] * attempts)
    response = _generate(client, world)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["detail"] == error.detail
    assert "generated_prompt" not in body
    assert STORED_KEY not in response.text
    assert len(scripted.llm.requests) == attempts  # transient failures were retried
    assert scripted.llm.pending == 0


def test_a_rate_limit_is_503_with_retry_after(client, world, scripted, system_design):
    scripted.llm.default = None
    scripted.llm.then(ProviderRateLimited("openai: rate limited", retry_after=29.2))
    response = _generate(client, world)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.json()["detail"] == "openai: rate limited"
    assert len(scripted.llm.requests) == 1  # longer than the backoff cap: no wait, no retry


def test_an_empty_answer_is_a_502_not_an_empty_prompt(client, world, scripted, system_design):
    scripted.llm.default = reply("  \n ")
    response = _generate(client, world)
    assert response.status_code == 502
    assert response.json()["detail"] == "The model returned no prompt"


def test_a_rejected_request_key_does_not_fall_back_to_stored_keys(
    client, world, scripted, system_design
):
    scripted.per_key[REQUEST_KEY] = ScriptedLLM(ProviderAuthError("openai: key rejected"))
    response = _generate(client, world, api_key=REQUEST_KEY)
    assert response.status_code == 502
    assert [key for _, key, _ in scripted.gets] == [REQUEST_KEY]


# --- request keys: never logged, returned or stored ------------------------------------------


def test_request_keys_are_never_logged_returned_or_stored(
    client, world, scripted, system_design, caplog, capsys, pg
):
    caplog.set_level(logging.DEBUG)
    scripted.per_key[REQUEST_KEY] = ScriptedLLM(ProviderAuthError("openai: key rejected"))
    responses = [
        _generate(client, world, api_key=REQUEST_KEY),  # rejected: logged as "key rejected"
        _generate(client, world, custom_api_key=CUSTOM_KEY, custom_model="gpt-x"),
        _generate(client, world, custom_api_key="bad key with spaces"),  # a 422
        _generate(client, world, custom_provider="gemini", custom_api_key=CUSTOM_KEY),
    ]
    assert [r.status_code for r in responses] == [502, 200, 422, 200]
    lines = [f"{record.getMessage()} {record.args} {record.__dict__}" for record in caplog.records]
    captured = capsys.readouterr()
    assert any("key rejected" in line for line in lines)  # the check is not vacuous
    for text in [*lines, captured.out, captured.err, *(r.text for r in responses)]:
        for key in (REQUEST_KEY, CUSTOM_KEY, STORED_KEY, "bad key with spaces"):
            assert key not in text

    async def database_dump() -> tuple[str, int]:
        connection = await asyncpg.connect(pg.replace("+asyncpg", ""))
        try:
            tables = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
            cells = [
                str(value)
                for table in tables
                for row in await connection.fetch(f'SELECT * FROM "{table["tablename"]}"')  # noqa: S608
                for value in row.values()
            ]
            return "\n".join(cells), await connection.fetchval("SELECT count(*) FROM agent_key")
        finally:
            await connection.close()

    dump, stored = asyncio.run(database_dump())
    assert stored == 1  # only the system configuration's own key
    assert "SYSTEM META" in dump  # the dump is not vacuous
    for key in (REQUEST_KEY, CUSTOM_KEY, STORED_KEY):
        assert key not in dump


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"requirement": ""},
        {"requirement": "   "},
        {"requirement": "a\x00b"},
        {"target_agent_type": "principal"},
        {"course_context": "x" * 20_001},
        {"custom_provider": "claude"},
        {"provider": "anthropic"},
        {"custom_api_key": "has space"},
        {"api_key": "k" * 513},
        {"custom_model": "gpt 4"},
        {"custom_system_prompt": "x" * 100_001},
        {"course_id": "not-a-uuid"},
    ],
)
def test_invalid_bodies_are_422(client, world, scripted, fields):
    response = _generate(client, world, **fields)
    assert response.status_code == 422, response.text
    assert scripted.gets == []


def test_missing_fields_are_422(client, world, scripted):
    for missing in ("requirement", "target_agent_type"):
        body = {k: v for k, v in BODY.items() if k != missing}
        response = client.post(GENERATE, json=body, headers=world.sessions["owner"].headers)
        assert response.status_code == 422, response.text
        assert missing in response.text
    assert scripted.gets == []
