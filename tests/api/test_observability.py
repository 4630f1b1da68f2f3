"""GET /metrics (names, labels, who may read it) and the log line of a refused socket."""

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from coagent.domain.accounts.roles import Role
from coagent.main.app import create_app
from coagent.main.logging import JsonFormatter
from tests.api.chat_helpers import close_code, connect, create_room, next_event, send
from tests.api.conftest import create_course, signed_in
from tests.conftest import make_settings

TOKEN = "metrics-token-for-the-tests-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metered(tmp_path: Path, pg: str, redis_url: str) -> Iterator[TestClient[Any]]:
    settings = make_settings(tmp_path, DATABASE_URL=pg, REDIS_URL=redis_url, METRICS_TOKEN=TOKEN)
    with TestClient(app=create_app(settings)) as client:
        yield client


def scrape(client: TestClient[Any]) -> str:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return response.text


def test_metrics_need_the_token_when_one_is_set(metered):
    wrong = {"Authorization": "Bearer wrong-token-0123456789"}
    for headers in ({}, wrong, {"Authorization": TOKEN}, {"X-Forwarded-For": "127.0.0.1"}):
        refused = metered.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "coagent_" not in refused.text
    assert "coagent_http_request_duration_seconds" in scrape(metered)


def test_without_a_token_metrics_are_not_found_off_this_host(client):
    # The test client's address is "testclient", not loopback; a forwarded loopback address
    # from an untrusted peer changes nothing.
    for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}, AUTH):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


def test_requests_are_counted_by_route_template_method_and_status(metered):
    session = signed_in(metered, Role.TEACHER)
    course_id = create_course(metered, session, "Metered")
    before = scrape(metered)
    for _ in range(3):
        assert metered.get(f"/api/v1/courses/{course_id}", headers=session.headers).is_success
    metered.get("/api/v1/no/such/path/12345")
    metered.get("/nowhere-at-all")
    after = scrape(metered)

    count = "coagent_http_request_duration_seconds_count"
    route = {"method": "GET", "route": "/api/v1/courses/{course_id}", "status": "200"}
    assert value(after, count, **route) - value(before, count, **route) == 3
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, count, **unmatched) - value(before, count, **unmatched) == 2
    # Raw paths never become labels (no unbounded cardinality).
    assert course_id not in after
    assert "/no/such/path" not in after
    assert "nowhere-at-all" not in after
    bucket = "coagent_http_request_duration_seconds_bucket"
    assert value(after, bucket, **route, le="+Inf") >= 3
    # A method nobody declares is one label value, whatever the caller sent.
    other = {"method": "OTHER", "route": "unmatched", "status": "405"}
    assert metered.request("BREW", "/api/v1/courses").status_code == 405
    assert value(scrape(metered), count, **other) - value(after, count, **other) == 1


def test_sockets_deliveries_and_queue_depth_are_measured(metered):
    owner = signed_in(metered, Role.TEACHER)
    room_id = create_room(metered, owner, create_course(metered, owner, "Live"))
    before = scrape(metered)
    with connect(metered, room_id, owner) as ws:
        open_now = scrape(metered)
        assert (
            value(open_now, "coagent_ws_open_sockets") - value(before, "coagent_ws_open_sockets")
            == 1
        )
        send(ws, "hello metrics")
        next_event(ws)
    # The server notices the close a moment after the client made it.
    deadline = time.monotonic() + 10
    while value(after := scrape(metered), "coagent_ws_open_sockets") != value(
        before, "coagent_ws_open_sockets"
    ):
        assert time.monotonic() < deadline, "the closed socket is still counted"
        time.sleep(0.02)
    assert value(after, "coagent_ws_deliveries_total") > value(
        before, "coagent_ws_deliveries_total"
    )
    assert value(after, "coagent_ws_queue_depth_count") > value(
        before, "coagent_ws_queue_depth_count"
    )
    names = {name for name, _ in samples(after)}
    assert {"coagent_ws_drops_total", "coagent_bus_reconnects_total"} <= names


def test_metrics_are_not_in_the_openapi_document(metered):
    document = metered.get("/api/v1/openapi.json").json()
    assert "/metrics" not in document["paths"]


def test_a_refused_socket_logs_its_close_code_and_reason_but_never_the_query(metered, caplog):
    owner = signed_in(metered, Role.TEACHER)
    room_id = create_room(metered, owner, create_course(metered, owner, "Refusals"))
    ticket = "secret-ticket-abcdef0123456789"
    caplog.set_level(logging.INFO, logger="coagent.chat")
    with connect(metered, room_id, query=f"?ticket={ticket}&token=also-secret-0123") as ws:
        code, _ = close_code(ws)
    assert code == 4401
    with connect(metered, "not-a-room", owner) as ws:
        assert close_code(ws)[0] == 4404

    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.getMessage() == "chat socket refused"]
    assert len(lines) == 2, lines
    assert '"close_code": 4401' in lines[0]
    assert '"reason": "unauthenticated: ' in lines[0]
    assert f'"path": "/api/v1/chat/ws/{room_id}"' in lines[0]
    assert '"close_code": 4404' in lines[1]
    assert "not_found: Room not found" in lines[1]
    text = "\n".join(lines)
    for secret in (ticket, "also-secret-0123", "ticket=", owner.headers["Authorization"][7:]):
        assert secret not in text
