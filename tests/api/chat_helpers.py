"""Helpers for chat tests over Litestar's WebSocket test client."""

import json
from typing import Any

from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from litestar.testing.websocket_test_session import WebSocketTestSession

from tests.api.conftest import Session

V1 = ["coagent.v1"]
ROOMS = "/api/v1/rooms/"


def create_room(client: TestClient[Any], session: Session, course_id: str, **fields: Any) -> str:
    response = client.post(
        ROOMS, json={"name": "Room", "course_id": course_id, **fields}, headers=session.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def connect(
    client: TestClient[Any],
    room_id: str,
    session: Session | None = None,
    *,
    v1: bool = True,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> WebSocketTestSession:
    all_headers = dict(session.headers if session else {})
    all_headers.update(headers or {})
    return client.websocket_connect(
        f"/api/v1/chat/ws/{room_id}{query}",
        subprotocols=V1 if v1 else None,
        headers=all_headers,
    )


def next_event(ws: WebSocketTestSession, kind: str = "message", timeout: float = 5) -> Any:
    """The next event of `kind`, skipping others (join/leave, presence, typing...)."""
    while True:
        try:
            frame = ws.receive(timeout=timeout)
        except WebSocketDisconnect as closed:
            raise AssertionError(
                f"socket closed ({closed.code}) while waiting for {kind}"
            ) from None
        if frame["type"] == "websocket.close":
            raise AssertionError(f"socket closed ({frame.get('code')}) while waiting for {kind}")
        event = json.loads(frame["text"])
        if event["type"] == kind:
            return event


def close_code(ws: WebSocketTestSession, timeout: float = 5) -> tuple[int, list[Any]]:
    """Read until the server closes; the close code and the events seen before it."""
    seen = []
    while True:
        try:
            frame = ws.receive(timeout=timeout)
        except WebSocketDisconnect as closed:  # how the test client reports a server close
            return int(closed.code or 1000), seen
        if frame["type"] == "websocket.close":
            return int(frame.get("code", 1000)), seen
        seen.append(json.loads(frame["text"]))


def send(ws: WebSocketTestSession, content: str, client_msg_id: str | None = None) -> None:
    frame: dict[str, Any] = {"type": "message.send", "content": content}
    if client_msg_id is not None:
        frame["client_msg_id"] = client_msg_id
    ws.send_text(json.dumps(frame))


def post(client: TestClient[Any], session: Session, room_id: str, content: str, **kw: Any) -> Any:
    return client.post(
        f"/api/v1/chat/messages/{room_id}",
        json={"content": content},
        headers={**session.headers, **kw.pop("headers", {})},
        **kw,
    )
