"""The fuzz run's hostile half: every operation of the OpenAPI document, sent what no schema
generator sends (issue 14, item 5).

schemathesis (test_fuzz.py) generates from the schema, so it rarely sends a NUL where a
pattern forbids one, never raw invalid UTF-8, never JSON a thousand levels deep, and keeps
integers within the documented bounds. Probes did, and found 500s. Here every documented
operation gets, on real ids of a real course (so the requests reach the database):

- each JSON body as raw invalid UTF-8, nested 1,000 deep, and, starting from a body valid for
  the operation, a NUL or control characters in each text field and huge integers in each
  integer field;
- each query parameter as a NUL, invalid UTF-8, and (integers) values beyond 64 bits;
- each text path parameter with a NUL.

Every answer must be a problem document below 500 (or a success): never a server error.
"""

import itertools
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from coagent.domain.accounts.roles import Role
from tests.api.conftest import PASSWORD, seed_user
from tests.api.test_fuzz import HTTP_METHODS

PROBLEM = "application/problem+json"
HUGE = [2**63, -(2**63) - 1, 10**30]
# NUL, the other C0 controls PostgreSQL keeps, DEL, and an escaped-backslash look-alike.
TEXTS = ["a\x00b", "\x00", "a\x01\x1f\x7fb", "a\\u0000b"]
_emails = itertools.count()


class World:
    """A super admin's own course with one of everything, and a fresh session per request."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.admin = seed_user(client, Role.SUPER_ADMIN)
        self.student = seed_user(client, Role.STUDENT)
        headers = self.headers()
        self.course_id = self._make("/api/v1/courses", {"title": "Hostile"}, headers)
        self.room_id = self._make(
            "/api/v1/rooms", {"name": "Room", "course_id": self.course_id}, headers
        )
        enrolled = client.post(
            f"/api/v1/courses/{self.course_id}/enroll",
            json={"user_id": str(self.student.id), "role": "student"},
            headers=headers,
        )
        assert enrolled.status_code == 200, enrolled.text
        self.config_id = self._make(
            f"/api/v1/agents/{self.course_id}",
            {"type": "teacher", "name": "T", "system_prompt": "Ask."},
            headers,
        )
        self.announcement_id = self._make(
            "/api/v1/announcements",
            {"title": "A", "content": "B", "course_id": self.course_id},
            headers,
        )
        self.version_id = self._make(
            f"/api/v1/agent-config/{self.config_id}/versions", {"version_label": "v"}, headers
        )
        sent = client.post(
            f"/api/v1/chat/messages/{self.room_id}", json={"content": "hello"}, headers=headers
        )
        assert sent.status_code == 201, sent.text

    def _make(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> str:
        response = self.client.post(url, json=body, headers=headers)
        assert response.status_code == 201, f"{url}: {response.text}"
        return str(response.json()["id"])

    def headers(self) -> dict[str, str]:
        """A new session each time: a hostile logout or password change poisons nothing."""
        response = self.client.post(
            "/api/v1/login/access-token", data={"username": self.admin.email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        self.client.cookies.clear()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def path_value(self, method: str, path: str, name: str) -> str:
        if path == "/api/v1/agents/{id}":
            return self.course_id if method in {"get", "post"} else self.config_id
        values = {
            "course_id": self.course_id,
            "room_id": self.room_id,
            "config_id": self.config_id,
            "announcement_id": self.announcement_id,
            "version_id": self.version_id,
            "user_id": str(self.student.id),
            "agent_type": "teacher",
            "table_name": "course",
            "file_name": "missing.png",
        }
        return values.get(name, str(uuid.uuid4()))

    def id_for(self, name: str) -> str | None:
        return {
            "course_id": self.course_id,
            "room_id": self.room_id,
            "user_id": str(self.student.id),
        }.get(name)


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [_resolve(s, components) for s in schema[key]]
            typed = [s for s in options if s.get("type") != "null"]
            return {**schema, **(typed[0] if typed else options[0])}
    return schema


def _example(
    schema: dict[str, Any], components: dict[str, Any], world: World, name: str = ""
) -> Any:
    """A small value the schema accepts, real ids for id-shaped names."""
    schema = _resolve(schema, components)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            key: _example(sub, components, world, key)
            for key, sub in (schema.get("properties") or {}).items()
            if key in set(schema.get("required") or [])
        }
    if kind == "array":
        return []
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return schema.get("minimum", 0.5)
    if kind == "boolean":
        return True
    if schema.get("format") == "uuid" or name.endswith("_id"):
        return world.id_for(name) or str(uuid.uuid4())
    if schema.get("format") == "email" or name == "email":
        return f"hostile{next(_emails)}@example.test"
    return "x" * max(int(schema.get("minLength", 1)), 1)


def _text_fields(schema: dict[str, Any], components: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(property, JSON type) of each top-level text or integer property."""
    schema = _resolve(schema, components)
    for key, sub in (schema.get("properties") or {}).items():
        kind = _resolve(sub, components).get("type")
        if kind in {"string", "integer"}:
            yield key, kind


def _requests(
    document: dict[str, Any], world: World
) -> Iterator[tuple[str, str, str, bytes | None, str]]:
    """(label, method, url, body, content type) for every hostile request of every operation.
    DELETE operations come last: on a server that let hostile input through, they would empty
    the world of the others.
    """
    components = document.get("components", {}).get("schemas", {})
    operations = [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    operations.sort(key=lambda entry: entry[0] == "delete")
    for method, path, operation in operations:
        parameters = operation.get("parameters", [])
        url = path
        for parameter in parameters:
            if parameter["in"] == "path":
                value = world.path_value(method, path, parameter["name"])
                url = url.replace("{" + parameter["name"] + "}", value)
        label = f"{method.upper()} {path}"
        body_schema = (
            operation.get("requestBody", {})
            .get("content", {})
            .get("application/json", {})
            .get("schema")
        )
        base = _example(body_schema, components, world) if body_schema else None
        base_body = None if base is None else _json(base)
        # Query parameters.
        queries = [p for p in parameters if p["in"] == "query"]
        for parameter in [*queries, {"name": "extra", "schema": {"type": "string"}}]:
            kind = _resolve(parameter.get("schema", {}), components).get("type")
            values = [quote(str(n)) for n in HUGE] if kind == "integer" else []
            values += ["a%00b", "a%ffb", "%ed%a0%80"]
            for value in values:
                yield (
                    f"{label} ?{parameter['name']}={value}",
                    method,
                    f"{url}?{parameter['name']}={value}",
                    base_body,
                    "application/json",
                )
        # Text path parameters.
        for parameter in parameters:
            if parameter["in"] == "path" and parameter.get("schema", {}).get("format") != "uuid":
                name = "{" + parameter["name"] + "}"
                hostile = path.replace(name, "a%00b")
                for other in parameters:
                    if other["in"] == "path" and other is not parameter:
                        value = world.path_value(method, path, other["name"])
                        hostile = hostile.replace("{" + other["name"] + "}", value)
                yield f"{label} {name}=NUL", method, hostile, base_body, "application/json"
        if body_schema is None:
            continue
        # Bodies that are not readable JSON.
        yield (
            f"{label} invalid UTF-8",
            method,
            url,
            b'{"a": "\xff\xfe\xed\xa0\x80"}',
            "application/json",
        )
        yield (
            f"{label} nested 1000 deep",
            method,
            url,
            b"[" * 1000 + b"]" * 1000,
            "application/json",
        )
        yield (
            f"{label} nested 1000 deep in a field",
            method,
            url,
            b'{"x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
            "application/json",
        )
        if not isinstance(base, dict):
            continue
        # A body valid for the operation, with one hostile value in one field.
        for key, kind in _text_fields(body_schema, components):
            hostile_values: list[Any] = list(HUGE) if kind == "integer" else list(TEXTS)
            for value in hostile_values:
                yield (
                    f"{label} {key}={value!r}",
                    method,
                    url,
                    _json({**base, key: value}),
                    "application/json",
                )


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture
def world(client: Any) -> World:
    return World(client)


def test_no_operation_answers_hostile_input_with_a_server_error(client: Any, world: World) -> None:
    document = client.get("/api/v1/openapi.json").json()
    failures = []
    sent = 0
    for label, method, url, body, content_type in _requests(document, world):
        response = client.request(
            method.upper(),
            url,
            content=body,
            headers={**world.headers(), "content-type": content_type},
        )
        sent += 1
        if response.status_code >= 500:
            failures.append(f"{label}: {response.status_code} {response.text[:200]}")
        elif response.status_code >= 400 and response.headers.get("content-type") != PROBLEM:
            failures.append(f"{label}: {response.status_code} without a problem document")
    print(f"sent {sent} hostile requests")
    assert sent > 500  # every operation was reached
    assert not failures, f"{len(failures)} of {sent} hostile requests failed:\n" + "\n".join(
        failures
    )


_CONSTRAINTS = ("pattern", "enum", "const", "format")


def _request_strings(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, constraints) of every string a request body or query may carry; constraints
    are the string's own and those of the `oneOf` holding it (where Litestar puts them).
    """
    components = document.get("components", {}).get("schemas", {})
    seen: set[str] = set()

    def walk(schema: Any, where: str, inherited: dict[str, Any]) -> Iterator[Any]:
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                yield from walk(components[name], name, {})
            return
        constraints = {**inherited, **{k: schema[k] for k in _CONSTRAINTS if k in schema}}
        if schema.get("type") == "string":
            yield where, constraints
        for key, sub in (schema.get("properties") or {}).items():
            yield from walk(sub, f"{where}.{key}", {})
        for key in ("oneOf", "anyOf", "allOf"):
            for sub in schema.get(key) or []:
                yield from walk(sub, where, constraints)
        for key in ("items", "additionalProperties"):
            yield from walk(schema.get(key), f"{where}[]", {})

    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            for parameter in operation.get("parameters", []):
                # Path values are looked up, never stored (and a NUL there is a 404).
                if parameter["in"] != "path":
                    where = f"{method.upper()} {path} {parameter['in']}:{parameter['name']}"
                    yield from walk(parameter.get("schema"), where, {})
            for media in operation.get("requestBody", {}).get("content", {}).values():
                yield from walk(media.get("schema"), f"{method.upper()} {path} body", {})


def test_the_schema_says_no_request_text_holds_a_nul(client: Any) -> None:
    """What the server refuses, the document refuses: otherwise a schema-driven fuzzer (and a
    generated client) takes a NUL for valid text, and the server's 422 for a failure.
    """
    document = client.get("/api/v1/openapi.json").json()
    admitted = [
        f"{where}: {constraints}"
        for where, constraints in _request_strings(document)
        if not {"enum", "const", "format"} & constraints.keys()
        and (
            "pattern" not in constraints
            or re.search(constraints["pattern"], "a\x00b")
            or re.search(constraints["pattern"], "\x00")
        )
    ]
    assert len(list(_request_strings(document))) > 50  # the walk reaches the bodies
    assert not admitted, "\n".join(admitted)


def _login_bodies(email: str) -> Iterator[tuple[str, bytes, str]]:
    """Hostile login bodies as a form and as multipart, the two body types the document no
    longer describes (it documents the JSON one), so the schema fuzz never sends them.
    """
    form = "application/x-www-form-urlencoded"
    good = f"username={quote(email)}&password={quote(PASSWORD)}"
    for text in TEXTS:
        yield (
            f"form NUL/control in username {text!r}",
            f"username={quote(text)}&password=x".encode(),
            form,
        )
        yield (
            f"form NUL/control in password {text!r}",
            f"username={quote(email)}&password={quote(text)}".encode(),
            form,
        )
    yield "form invalid UTF-8 (percent-encoded)", b"username=%FF%FE&password=%C3%28", form
    yield "form invalid UTF-8 (raw)", b"username=\xff\xfe&password=\xc3\x28", form
    yield "form repeated fields", f"{good}&username=other&password=other".encode(), form
    yield "form no fields", b"", form
    yield "form only separators", b"&&&===&", form
    yield (
        "form a 600 KiB password",
        f"username={quote(email)}&password={'p' * 600_000}".encode(),
        form,
    )
    yield "form 5000 fields", "&".join(f"f{i}=v" for i in range(5000)).encode(), form
    yield "form with a charset it is not in", good.encode(), f"{form}; charset=utf-16"
    boundary = "hostileBoundary"
    multipart = f"multipart/form-data; boundary={boundary}"

    def part(name: str, value: bytes, extra: bytes = b"") -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
            + extra
            + b"\r\n\r\n"
            + value
            + b"\r\n"
        )

    end = f"--{boundary}--\r\n".encode()
    for text in TEXTS:
        yield (
            f"multipart NUL/control in username {text!r}",
            part("username", text.encode()) + part("password", b"x") + end,
            multipart,
        )
    yield (
        "multipart invalid UTF-8",
        part("username", b"\xff\xfe") + part("password", b"\xc3\x28") + end,
        multipart,
    )
    yield (
        "multipart password as a file",
        part("username", email.encode())
        + part("password", PASSWORD.encode(), b'; filename="p.txt"\r\nContent-Type: text/plain')
        + end,
        multipart,
    )
    yield "multipart without its closing boundary", part("username", email.encode()), multipart
    yield (
        "multipart with another boundary",
        part("username", email.encode()) + end,
        "multipart/form-data; boundary=other",
    )
    yield (
        "multipart without a boundary",
        part("username", email.encode()) + end,
        "multipart/form-data",
    )
    yield (
        "multipart a field in an unknown charset",
        part("username", b"x", b"\r\nContent-Type: text/plain; charset=klingon") + end,
        multipart,
    )
    yield "multipart garbage", b"\x00\xff" * 1000, multipart
    yield (
        "multipart a 600 KiB field",
        part("username", email.encode()) + part("password", b"p" * 600_000) + end,
        multipart,
    )


def test_hostile_form_and_multipart_logins_get_no_server_error(client: Any) -> None:
    user = seed_user(client, Role.STUDENT)
    failures = []
    sent = 0
    for label, body, content_type in _login_bodies(user.email):
        response = client.post(
            "/api/v1/login/access-token",
            content=body,
            headers={
                "content-type": content_type,
                "x-forwarded-for": f"10.9.{sent // 250}.{sent % 250}",
            },
        )
        sent += 1
        kind = response.headers.get("content-type", "")
        if response.status_code >= 500:
            failures.append(f"{label}: {response.status_code} {response.text[:200]}")
        elif response.status_code == 200 or (
            response.status_code >= 400
            and kind.startswith(("application/problem+json", "application/json"))
        ):
            assert PASSWORD not in response.text
        else:
            failures.append(f"{label}: {response.status_code} {kind} {response.text[:200]}")
    assert sent > 25
    assert not failures, "\n".join(failures)
    # The form and multipart logins still work when the body is sane.
    for body, content_type in (
        (
            f"username={quote(user.email)}&password={quote(PASSWORD)}".encode(),
            "application/x-www-form-urlencoded",
        ),
    ):
        assert (
            client.post(
                "/api/v1/login/access-token", content=body, headers={"content-type": content_type}
            ).status_code
            == 200
        )
    assert (
        client.post(
            "/api/v1/login/access-token",
            files={"username": (None, user.email), "password": (None, PASSWORD)},
        ).status_code
        == 200
    )


def test_a_multipart_avatar_with_a_field_not_in_its_charset_is_refused(client: Any) -> None:
    user = seed_user(client, Role.STUDENT)
    token = client.post(
        "/api/v1/login/access-token", data={"username": user.email, "password": PASSWORD}
    ).json()["access_token"]
    body = (
        b'--B\r\nContent-Disposition: form-data; name="note"\r\n\r\n\xff\xfe\r\n'
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n--B--\r\n"
    )
    response = client.post(
        "/api/v1/users/me/avatar",
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "content-type": "multipart/form-data; boundary=B",
        },
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["message"] == "A form field is not text in its charset"
