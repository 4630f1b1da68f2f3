"""Responses of 1 KiB or more are compressed for clients that accept it; nothing else is."""

import gzip
import json
import os
import struct
import zlib
from typing import Any

import brotli
from litestar.testing import TestClient

from coagent.domain.accounts.roles import Role
from tests.api.chat_helpers import connect, create_room, next_event, post, send
from tests.api.conftest import Session, create_course, enroll, signed_in

AXIOS = "gzip, deflate, br"  # what the original web client (axios in a browser) sends


def _raw(client: TestClient[Any], path: str, session: Session, accept: str) -> tuple[Any, bytes]:
    """The response and its body exactly as sent (not decoded by the test client)."""
    headers = {**session.headers, "Accept-Encoding": accept}
    with client.stream("GET", path, headers=headers) as response:
        body = b"".join(response.iter_raw())
    return response, body


def _room_with_history(client: TestClient[Any], messages: int) -> tuple[Session, str]:
    teacher = signed_in(client, Role.TEACHER)
    student = signed_in(client, Role.STUDENT)
    course_id = create_course(client, teacher, "Compressed")
    enroll(client, teacher, course_id, student.user.id, "student")
    room_id = create_room(client, teacher, course_id)
    for number in range(messages):
        assert post(client, student, room_id, f"message {number} " + "x" * 80).status_code == 201
    return student, room_id


def test_a_history_page_is_compressed_for_each_accepted_encoding(client):
    student, room_id = _room_with_history(client, 30)
    path = f"/api/v1/chat/messages/{room_id}?limit=100"
    plain, plain_body = _raw(client, path, student, "identity")
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    expected = json.loads(plain_body)
    assert len(expected) == 30

    br, br_body = _raw(client, path, student, AXIOS)
    assert br.headers["content-encoding"] == "br"
    assert "accept-encoding" in br.headers["vary"].lower()
    assert int(br.headers["content-length"]) == len(br_body)
    assert json.loads(brotli.decompress(br_body)) == expected
    assert len(br_body) < len(plain_body) / 3

    gz, gz_body = _raw(client, path, student, "gzip")
    assert gz.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(gz_body)) == expected
    assert len(gz_body) < len(plain_body) / 3
    # Paging headers survive compression.
    assert gz.headers.get("link") == plain.headers.get("link")


def test_the_test_client_like_axios_reads_a_compressed_list(client):
    """What a browser client sees: the decoded JSON, as before (reference §7)."""
    student, room_id = _room_with_history(client, 20)
    response = client.get(
        f"/api/v1/chat/messages/{room_id}",
        headers={**student.headers, "Accept-Encoding": AXIOS},
    )
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "br"
    assert [m["content"][:10] for m in response.json()][:2] == ["message 0 ", "message 1 "]


def test_small_answers_and_errors_are_not_compressed(client):
    student = signed_in(client, Role.STUDENT)
    session, body = _raw(client, "/api/v1/login/session", student, AXIOS)
    assert session.status_code == 200
    assert len(body) < 1024
    assert "content-encoding" not in session.headers
    assert json.loads(body)["session_id"]

    missing, body = _raw(
        client, "/api/v1/chat/messages/00000000-0000-0000-0000-000000000000", student, AXIOS
    )
    assert missing.status_code == 404
    assert "content-encoding" not in missing.headers
    assert json.loads(body)["status"] == 404


def test_websocket_frames_are_plain_json_whatever_the_client_accepts(client):
    student, room_id = _room_with_history(client, 0)
    with connect(client, room_id, student, headers={"Accept-Encoding": AXIOS}) as ws:
        send(ws, "over the socket " + "y" * 2000, client_msg_id="c1")
        event = next_event(ws)  # next_event parses the text frame as JSON
    assert event["content"].startswith("over the socket ")
    assert event["client_msg_id"] == "c1"


def _noisy_png(side: int = 24) -> bytes:
    """A valid PNG of random pixels: incompressible, several KiB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    raw = b"".join(b"\x00" + os.urandom(3 * side) for _ in range(side))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 0))
        + chunk(b"IEND", b"")
    )


def test_avatars_are_sent_as_stored(client):
    """Images are compressed already: compressing them again would only cost CPU."""
    student = signed_in(client, Role.STUDENT)
    image = _noisy_png()
    assert len(image) > 1024
    uploaded = client.post(
        "/api/v1/users/me/avatar",
        files={"file": ("me.png", image, "image/png")},
        headers=student.headers,
    )
    assert uploaded.status_code == 200, uploaded.text
    served, body = _raw(client, uploaded.json()["avatar_url"], student, AXIOS)
    assert served.status_code == 200
    assert "content-encoding" not in served.headers
    assert body == image
