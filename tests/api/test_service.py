"""Health, readiness, OpenAPI, problem details, security headers and log hygiene."""

import logging
import re

from litestar.testing import TestClient

from coagent.main.app import create_app
from coagent.main.logging import JsonFormatter, TextFormatter
from tests.api.conftest import PASSWORD, seed_user, signed_in
from tests.conftest import make_settings


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_ready_reports_an_unreachable_redis(tmp_path, pg):
    settings = make_settings(tmp_path, DATABASE_URL=pg, REDIS_URL="redis://127.0.0.1:1/0")
    with TestClient(app=create_app(settings)) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "unavailable"}


def test_openapi_document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    ids = [operation["operationId"] for _, _, operation in operations]
    assert len(ids) == len(set(ids)) >= 17
    for path, method, operation in operations:
        if operation.get("security"):
            assert "401" in operation["responses"], (path, method)
        for status, spec in operation["responses"].items():
            if int(status) >= 400:
                assert "application/problem+json" in spec.get("content", {}) or status == "503", (
                    path,
                    status,
                )
    test_token = document["paths"]["/api/v1/login/test-token"]["post"]
    assert {"401", "403"} <= test_token["responses"].keys()
    assert "403 when it is absent" in test_token["description"]
    assert client.get("/docs").status_code == 200


def test_errors_are_problem_details(client):
    session = signed_in(client)
    not_found = client.get("/api/v1/nowhere", headers=session.headers)
    assert not_found.status_code == 404
    assert not_found.headers["content-type"].startswith("application/problem+json")
    assert not_found.json()["detail"]
    bad_body = client.put(
        "/api/v1/users/me",
        content=b"{",
        headers={**session.headers, "Content-Type": "application/json"},
    )
    assert bad_body.status_code in {422, 400}
    assert bad_body.json()["detail"]
    wrong_type = client.put("/api/v1/users/me", json={"full_name": 42}, headers=session.headers)
    assert wrong_type.status_code == 422
    assert wrong_type.json()["detail"] == "Request is not valid"
    bad_id = client.put("/api/v1/users/not-a-uuid", json={}, headers=session.headers)
    assert bad_id.status_code in {404, 422}


def test_security_headers(client):
    response = client.get("/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_cors_allows_only_configured_origins(client):
    allowed = client.options(
        "/api/v1/users/me",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"},
    )
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
    assert allowed.headers.get("access-control-allow-credentials") == "true"
    denied = client.options(
        "/api/v1/users/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
    )
    assert denied.headers.get("access-control-allow-origin") != "https://evil.example"


def test_logs_never_contain_tokens_passwords_or_hashes(tmp_path, pg, redis_url, caplog):
    caplog.set_level(logging.DEBUG)
    settings = make_settings(tmp_path, DATABASE_URL=pg, REDIS_URL=redis_url, ACCESS_LOG="true")
    with TestClient(app=create_app(settings)) as client:
        user = seed_user(client)
        response = client.post(
            "/api/v1/login/access-token?password=in-the-url",
            data={"username": user.email, "password": PASSWORD},
        )
        tokens = response.json()
        client.post("/api/v1/login/refresh", json={"refresh_token": tokens["refresh_token"]})
        client.post(
            "/api/v1/login/access-token",
            data={"username": user.email, "password": "wrong password"},
        )
        client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert any('"path": "/api/v1/login/access-token"' in line for line in lines)  # logging works
    text = "\n".join(lines)
    for secret in (
        PASSWORD,
        "wrong password",
        "in-the-url",
        tokens["access_token"],
        tokens["refresh_token"],
        settings.secret_key,
        "$argon2",
    ):
        assert secret not in text


def test_the_accepted_time_zones_are_listed_publicly(client):
    response = client.get("/api/v1/meta/timezones")

    assert response.status_code == 200
    names = response.json()["timezones"]
    assert {"Europe/Berlin", "UTC", "Asia/Taipei"} <= set(names)
    assert names == sorted(names)
    assert "europe/berlin" not in names
    document = client.get("/api/v1/openapi.json").json()
    assert document["paths"]["/api/v1/meta/timezones"]["get"]["operationId"] == "list_timezones"
    assert not document["paths"]["/api/v1/meta/timezones"]["get"].get("security")


def test_the_api_reference_loads_nothing_from_another_host(client):
    page = client.get("/docs")  # and "/" redirect to /api/v1/docs
    assert page.status_code == 200
    assert str(page.url).endswith("/api/v1/docs")
    assert client.get("/", follow_redirects=False).headers["location"] == "/api/v1/docs"

    html = page.text
    head = html.split("</head>")[0]
    loaded = re.findall(r"""(?:src|href)=["']([^"']+)["']""", head)
    # Not vacuous: the stylesheet, both scripts and the icon.
    assert len(loaded) == 4, loaded
    for url in loaded:
        assert url.startswith("/api/v1/docs/assets/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    assert "SwaggerUIBundle(" in html
    assert "cdn." not in html
    assert "unpkg" not in html
    script = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert client.get("/api/v1/docs/assets/nothing.js").status_code == 404
    # The document stays where it was.
    assert client.get("/api/v1/openapi.json").json()["openapi"].startswith("3.1")


def test_a_missing_query_parameter_is_named_in_the_problem(client):
    session = signed_in(client)

    response = client.get("/api/v1/rooms?other=secret-query-7c1", headers=session.headers)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["detail"] == "Request is not valid"
    assert problem["errors"] == [
        {"message": "Field required", "key": "course_id", "source": "query"}
    ]
    assert "secret-query-7c1" not in response.text  # Litestar's own detail carries the query


def test_a_body_that_is_not_json_on_a_json_operation_is_415(client):
    session = signed_in(client)
    before = client.get("/api/v1/users/me", headers=session.headers).json()

    for content_type in ("application/x-www-form-urlencoded", "text/plain", "application/xml"):
        response = client.put(
            "/api/v1/users/me",
            content=b'{"full_name": "Changed"}',
            headers={**session.headers, "Content-Type": content_type},
        )
        assert response.status_code == 415, content_type
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "application/json" in response.json()["detail"]
    assert client.get("/api/v1/users/me", headers=session.headers).json() == before  # unchanged
    # JSON, a +json type, or no Content-Type at all are taken.
    for headers in ({"Content-Type": "application/json; charset=utf-8"}, {}):
        response = client.put(
            "/api/v1/users/me",
            content=b'{"full_name": "Changed"}',
            headers={**session.headers, **headers},
        )
        assert response.status_code == 200, response.text
    # Form logins (urlencoded and multipart, as the original client sends) are not JSON ops.
    user = seed_user(client)
    form = client.post(
        "/api/v1/login/access-token", data={"username": user.email, "password": PASSWORD}
    )
    assert form.status_code == 200, form.text
    multipart = client.post(
        "/api/v1/login/access-token",
        files={"username": (None, user.email), "password": (None, PASSWORD)},
    )
    assert multipart.status_code == 200, multipart.text
    # The avatar upload (multipart) still reaches its own checks.
    upload = client.post(
        "/api/v1/users/me/avatar",
        files={"file": ("a.png", b"not an image", "image/png")},
        headers=session.headers,
    )
    assert upload.status_code == 422
    assert "image" in upload.json()["detail"]


def test_the_access_line_carries_the_route_template(tmp_path, pg, caplog):
    settings = make_settings(tmp_path, DATABASE_URL=pg, ACCESS_LOG="true")
    caplog.set_level(logging.INFO, logger="coagent.access")
    with TestClient(app=create_app(settings)) as client:
        client.get("/api/v1/rooms/0f1e2d3c-4b5a-4978-8877-665544332211?secret=q-9d2")
    [entry] = [record for record in caplog.records if record.name == "coagent.access"]

    assert entry.route == "/api/v1/rooms/{room_id}"
    assert entry.path == "/api/v1/rooms/0f1e2d3c-4b5a-4978-8877-665544332211"
    assert entry.status == 401
    line = TextFormatter("%(message)s").format(entry)
    assert line.startswith("GET /api/v1/rooms/{room_id} 401 ")
    assert "q-9d2" not in line


def test_the_415_is_declared_for_every_operation_taking_a_json_body(client):
    document = client.get("/api/v1/openapi.json").json()
    declared = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}) if method != "get" else {}
            if content:
                declared[operation["operationId"]] = (path, operation["responses"], content)
    assert len(declared) > 10
    for operation_id, (path, responses, content) in declared.items():
        if operation_id == "login_access_token" or "application/json" not in content:
            # The login also takes forms; the avatar upload is multipart: no 415 from either.
            assert "415" not in responses, (operation_id, path)
            continue
        assert "415" in responses, (operation_id, path)
        assert "application/problem+json" in responses["415"]["content"]
        assert "Content-Type application/json" in responses["415"]["description"]
    assert "415" in declared["users_update_me"][1]
