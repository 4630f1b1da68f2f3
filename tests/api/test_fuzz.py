"""Every operation fuzzed from the app's own OpenAPI document, with every schemathesis check.

This is `schemathesis run --checks all` in process: the app runs under uvicorn in a background
thread (its database engine and Redis clients live on that one event loop), the schema is loaded
from /api/v1/openapi.json, and schemathesis' engine runs all its phases (examples, coverage,
fuzzing, stateful sequences built from the links it infers) with every built-in check, the auth
ones included (`ignored_auth` replays each protected operation without and with bad credentials).
The run must end with no failure and no error.

The fuzzer acts as a super admin, so it reaches every operation, with a fresh session minted for
every request: a fuzzed logout, "log out everywhere" or password change then never poisons the
next request. A check is only waived for a response that is right for a reason the schema cannot
express (see `_legitimate_rejection`), never for a whole operation.

`COAGENT_FUZZ_EXAMPLES`, `COAGENT_FUZZ_SEED` and `COAGENT_FUZZ_SECONDS` (a time-bounded soak)
widen or vary the run locally.
"""

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import schemathesis
import uvicorn
from litestar import Litestar
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.engine import StopReason, events, from_schema, observations
from schemathesis.engine.observations import _same_origin_path
from schemathesis.openapi.checks import RejectedPositiveData

from coagent.application.accounts.create_user import NewAccount
from coagent.domain.accounts.roles import Role
from coagent.main.app import create_app
from coagent.main.compose.infra import Overrides
from coagent.main.container import Container
from tests.api.conftest import signed_in
from tests.conftest import make_settings
from tests.fakes.llm import ScriptedProviders

T = TypeVar("T")

MAX_EXAMPLES = int(os.environ.get("COAGENT_FUZZ_EXAMPLES", "100"))
SEED = int(os.environ.get("COAGENT_FUZZ_SEED", "20250601"))
# Keep fuzzing and stateful runs going until this many seconds are spent (a local soak).
SOAK_SECONDS = os.environ.get("COAGENT_FUZZ_SECONDS")
PASSWORD = "fuzzing is fun, fuzzing is fair"
LOGIN = "/api/v1/login/access-token"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
_numbers = itertools.count()


class LiveServer:
    """The app under uvicorn on a free port, in a thread with its own event loop."""

    def __init__(self, app: Litestar) -> None:
        self.app = app
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=0,
                lifespan="on",
                log_config=None,
                access_log=False,
            )
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._server.serve(),), daemon=True
        )

    def __enter__(self) -> "LiveServer":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._loop.close()

    @property
    def base_url(self) -> str:
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the app's loop (where its connection pools live)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)


class SuperAdmins:
    """The fuzzer's identity: a super admin, and a new session of it whenever asked.

    Should a fuzzed request ever lock the account out (its password changed, deactivated,
    deleted), the next request gets a new super admin.
    """

    def __init__(self, server: LiveServer) -> None:
        self._server = server
        self._http = requests.Session()
        self._lock = threading.Lock()
        self.seeded = 0
        self.sessions = 0
        self._email = self._seed()

    def _seed(self) -> str:
        container: Container = self._server.app.state.container
        email = f"fuzz-admin-{next(_numbers)}@example.test"

        async def add() -> None:
            async with container.uow() as uow:
                await container.account_factory.add(
                    uow,
                    NewAccount(
                        email=email, password=PASSWORD, role=Role.SUPER_ADMIN, full_name="Fuzzer"
                    ),
                    actor_id=None,
                    via="test",
                )
                await uow.commit()

        self._server.call(add())
        self.seeded += 1
        return email

    def access_token(self) -> str:
        with self._lock:
            for _ in range(2):
                self._http.cookies.clear()
                response = self._http.post(
                    self._server.base_url + LOGIN,
                    data={"username": self._email, "password": PASSWORD},
                    timeout=10,
                )
                if response.status_code == 200:
                    self.sessions += 1
                    token: str = response.json()["access_token"]
                    return token
                self._email = self._seed()
        raise AssertionError(f"the fuzzer cannot log in: {response.status_code} {response.text}")


def _legitimate_rejection(
    _: Any, failure: Failure, case: schemathesis.Case[Any], response: schemathesis.Response
) -> bool:
    """`filter_failure` hook: False drops a failure. Only these exact cases, each a request the
    schema rightly calls valid and the server rightly refuses for a reason no schema states.
    """
    if not isinstance(failure, RejectedPositiveData):
        return True
    operation = case.operation.definition.raw.get("operationId")
    try:
        body = response.json()
    except ValueError:
        return True
    detail = body.get("detail", "") if isinstance(body, dict) else ""
    # Generated credentials are wrong: RFC 6749 invalid_grant, as the product requires.
    if operation == "login_access_token":
        return not (response.status_code == 400 and body.get("error") == "invalid_grant")
    # A generated `current_password` is not the account's password.
    if operation in {"users_update_me", "users_update"}:
        return not (response.status_code == 422 and detail.startswith("current_password"))
    # The design agent's provider needs a key and neither the request nor the stored design
    # configuration has one (whether one is stored is state, not schema).
    if operation == "agents_generate_prompt":
        return not (response.status_code == 422 and detail.startswith("No API key for provider"))
    # A message longer than CHAT_MAX_MESSAGE_LENGTH (a setting, so not in the schema).
    if operation == "chat_send_message":
        return not (response.status_code == 422 and detail.startswith("Message is longer than"))
    # A generated `user_id` of an existing account with another account's `user_email`.
    if operation in {"courses_enroll", "rooms_assign"}:
        return not (
            response.status_code == 422 and detail == "user_id and user_email name different users"
        )

    # A generated `timezone` of the documented shape that this server's time zone data does not
    # hold (the schema points to GET /api/v1/meta/timezones instead of a ~600-name enum).
    if operation in {
        "agents_create",
        "agents_update",
        "agents_system_upsert",
        "agent_config_upsert",
    } and (response.status_code == 422 and "unknown time zone" in detail):
        return False
    # A base_url whose host is an internal address (`http://0/`): refused unless the operator
    # allows it in LLM_ALLOWED_HOSTS (a setting, so not in the schema).
    if operation in {
        "agents_create",
        "agents_update",
        "agents_system_upsert",
        "agent_config_upsert",
    }:
        return not (response.status_code == 422 and "LLM_ALLOWED_HOSTS" in detail)
    # Generated bytes are not a JPEG, PNG or WebP image; the server checks the bytes.
    if operation == "users_upload_avatar":
        return not (
            response.status_code == 422
            and detail in {"Avatar must be a JPEG, PNG or WebP image", "The file is empty"}
        )
    return True


@dataclass
class Outcome:
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    operations: set[str] = field(default_factory=set)
    checks_run: set[str] = field(default_factory=set)
    cases: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    stop_reason: StopReason | None = None
    links: int = 0
    # Operations that answered 2xx at least once (so `ignored_auth` could probe them).
    succeeded: set[str] = field(default_factory=set)
    _started: dict[str, float] = field(default_factory=dict)

    def record(self, event: events.EngineEvent) -> None:
        if isinstance(event, events.PhaseStarted):
            self._started[event.phase.name.value] = time.monotonic()
            if isinstance(event.payload, events.StatefulPhasePayload):
                self.links = event.payload.transitions_selected
        elif isinstance(event, events.PhaseFinished):
            name = event.phase.name.value
            spent = time.monotonic() - self._started.get(name, time.monotonic())
            self.phases[name] = self.phases.get(name, 0.0) + spent
        elif isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            self.cases += len(recorder.cases)
            if event.phase.value != "stateful":
                self.operations.add(recorder.label)
            for case_id, interaction in recorder.interactions.items():
                operation = recorder.cases[case_id].value.operation
                response = interaction.response
                if (
                    response is not None
                    and 200 <= response.status_code < 300
                    and interaction.request.method.upper() == operation.method.upper()
                ):
                    self.succeeded.add(operation.label)
            for checks in recorder.checks.values():
                for check in checks:
                    self.checks_run.add(check.name)
                    if check.failure_info is None:
                        continue
                    found = check.failure_info.failure
                    key = (recorder.label, check.name, found.title)
                    self.failures.setdefault(
                        key,
                        f"[{event.phase.value}] {recorder.label}: {check.name}: {found.title}\n"
                        f"{found.message}\n{check.failure_info.code_sample}",
                    )
        elif isinstance(event, events.NonFatalError):
            self.errors.append(f"[{event.phase}] {event.label}: {event.info.title}\n{event.info}")
        elif isinstance(event, events.FatalError):
            self.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            self.stop_reason = event.stop_reason
            for found in event.failures:
                self.failures.setdefault(
                    ("run", "", found.title), f"{found.title}\n{found.message}"
                )


@pytest.fixture
def server(tmp_path: Path, pg: str, redis_url: str) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path,
        DATABASE_URL=pg,
        REDIS_URL=redis_url,
        # Fuzzed logins fail by the thousand from one address; the throttle has its own tests.
        LOGIN_FAILURES_PER_PAIR=1_000_000,
        LOGIN_FAILURES_PER_ACCOUNT=1_000_000,
        LOGIN_FAILURES_PER_ADDRESS=1_000_000,
        # No worker consumes the Redis broker here: analytics jobs stay queued, so a generate
        # request answers 202 at once instead of waiting 30 s for nothing.
        ANALYTICS_WAIT_SECONDS=0,
    )
    # Fuzzed keys and base URLs must never reach a real provider: scripted ones answer.
    with LiveServer(create_app(settings, Overrides(llm=ScriptedProviders()))) as live:
        yield live


class Progress:
    """With `COAGENT_FUZZ_PROGRESS` set (scripts/test.sh sets it), a line in that file at most
    every 10 s, which the script shows while it waits for this run (pytest captures stdout).
    """

    def __init__(self, path: str | None) -> None:
        self._path = Path(path) if path else None
        self._started = self._last = time.monotonic()

    def note(self, outcome: Outcome) -> None:
        now = time.monotonic()
        if self._path is None or now - self._last < 10:
            return
        self._last = now
        problems = len(outcome.failures) + len(outcome.errors)
        with self._path.open("a") as progress:
            progress.write(
                f"{now - self._started:.0f} s: {outcome.cases} requests over "
                f"{len(outcome.operations)} operations, {problems} problem(s) so far; "
                f"phases done: {', '.join(outcome.phases) or 'none yet'}\n"
            )


def _config(base_url: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            # With `max-time`, schemathesis keeps fuzzing until the time is spent; without, the
            # run is bounded by the examples per operation.
            **({"max-time": int(SOAK_SECONDS)} if SOAK_SECONDS else {}),
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            # Every check (`max_response_time` needs a limit and belongs to the load tests).
            "checks": {"enabled": True},
            "phases": {"stateful": {"max-steps": 20}},
            "cache": {"enabled": False},
        }
    )


def _fresh_session(admins: SuperAdmins) -> type:
    class FreshSession:
        def get(self, case: schemathesis.Case[Any], context: schemathesis.AuthContext) -> str:
            return admins.access_token()

        def set(
            self, case: schemathesis.Case[Any], token: str, context: schemathesis.AuthContext
        ) -> None:
            case.headers["Authorization"] = f"Bearer {token}"

    return FreshSession


def _tolerant_same_origin_path(value: str, origin: tuple[str, str]) -> str | None:
    """schemathesis 4's link inference reads every string of a 2xx body as a possible URL and
    crashes the whole run (ValueError from urlsplit) on a fuzzed one such as
    "http://[10FA.2f8E0efE]" that our API stored and echoed back. Such a string is no link.
    """
    try:
        return _same_origin_path(value, origin)
    except ValueError:
        return None


def test_openapi_fuzz_finds_nothing(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observations, "_same_origin_path", _tolerant_same_origin_path)
    admins = SuperAdmins(server)
    schema = schemathesis.openapi.from_url(
        server.base_url + "/api/v1/openapi.json", config=_config(server.base_url)
    )
    register: Callable[[type], type] = schema.auth(refresh_interval=None)
    register(_fresh_session(admins))
    schema.hook("filter_failure")(_legitimate_rejection)

    started = time.monotonic()
    outcome = Outcome()
    progress = Progress(os.environ.get("COAGENT_FUZZ_PROGRESS"))
    for event in from_schema(schema).execute():
        outcome.record(event)
        progress.note(outcome)
    elapsed = time.monotonic() - started

    print(
        f"fuzzed {len(outcome.operations)} operations with {outcome.cases} requests "
        f"({admins.sessions} sessions, {admins.seeded} super admins, {outcome.links} links) "
        f"in {elapsed:.0f} s "
        f"({', '.join(f'{name} {spent:.0f} s' for name, spent in outcome.phases.items())}); "
        f"checks run: {', '.join(sorted(outcome.checks_run))}; "
        f"never 2xx: {', '.join(sorted(outcome.operations - outcome.succeeded)) or 'none'}"
    )
    report = [*outcome.failures.values(), *outcome.errors]
    assert not report, "\n\n".join(report)
    assert outcome.stop_reason in {StopReason.COMPLETED, StopReason.MAX_TIME}
    load_all_checks()
    assert set(CHECKS.get_all_names()) <= outcome.checks_run
    documented = {
        f"{method.upper()} {path}"
        for path, item in schema.raw_schema["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert outcome.operations == documented


# --- What the fuzzer found, pinned down -------------------------------------------------------

ADMIN_USERS = "/api/v1/users"


def test_options_lists_every_method_of_a_path(client: Any) -> None:
    # Litestar 2 listed only the first handler registered on a path (litestar#4169).
    assert client.options(ADMIN_USERS).headers["allow"] == "GET, OPTIONS, POST"
    assert client.options("/api/v1/users/me").headers["allow"] == "GET, OPTIONS, PUT"


@pytest.mark.parametrize("is_active", [0, 1, "true"])
def test_json_bodies_are_not_coerced(client: Any, is_active: object) -> None:
    admin = signed_in(client, Role.ADMIN)
    response = client.post(
        ADMIN_USERS,
        json={"email": "coerced@example.test", "password": PASSWORD, "is_active": is_active},
        headers=admin.headers,
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", ADMIN_USERS + "?search=%00", None),
        ("GET", ADMIN_USERS + "/search?q=a%00b", None),
        ("GET", "/static/avatars/a%00.png", None),
        ("POST", ADMIN_USERS, {"email": "a\x00@example.test", "password": PASSWORD}),
        ("PUT", "/api/v1/users/me", {"full_name": "a\x00b"}),
        ("POST", LOGIN, {"username": "a\x00", "password": PASSWORD}),
    ],
)
def test_nul_in_text_is_refused_not_a_server_error(
    client: Any, method: str, url: str, body: object
) -> None:
    admin = signed_in(client, Role.ADMIN)
    response = client.request(method, url, json=body, headers=admin.headers)
    assert response.status_code == 422


def test_paging_links_are_percent_encoded(client: Any) -> None:
    admin = signed_in(client, Role.ADMIN)
    signed_in(client, Role.STUDENT)
    response = client.get(
        ADMIN_USERS, params={"limit": 1, "search": "é&x=\r\n", "offset": 0}, headers=admin.headers
    )
    assert response.status_code == 200
    page = client.get(
        ADMIN_USERS, params={"limit": 1, "search": "example", "x": "é&\r\n"}, headers=admin.headers
    )
    assert page.status_code == 200
    link = page.headers["link"]
    assert link.startswith("</api/v1/users?offset=1&limit=1&")
    assert link.endswith('>; rel="next"')
    assert "search=example" in link
    assert "x=%C3%A9%26%0D%0A" in link


def test_avatar_upload_without_a_file_is_422(client: Any) -> None:
    session = signed_in(client)
    response = client.post(
        "/api/v1/users/me/avatar",
        files={"photo": ("a.png", b"x", "image/png")},
        headers=session.headers,
    )
    assert response.status_code == 422


def test_unparsable_json_is_a_documented_400(client: Any) -> None:
    session = signed_in(client)
    response = client.put(
        "/api/v1/users/me",
        content=b"\x00",
        headers={**session.headers, "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    documented = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/users/me"]["put"]
    assert "application/problem+json" in documented["responses"]["400"]["content"]


def test_repeated_query_parameters_are_refused(client: Any) -> None:
    """Litestar would silently pick one copy; every parameter we declare is a single value."""
    response = client.get("/api/v1/admin/audit?offset=1&offset=0")
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"message": "Parameter is repeated", "key": "offset", "source": "query"}
    ]
