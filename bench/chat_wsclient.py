"""A minimal WebSocket client on asyncio.Protocol for the chat benches (fan-out, idle sockets).

Thousands of sockets and hundreds of thousands of frames per second in one client process on
2 shared cores: the `websockets` library costs tens of microseconds per received frame, this
costs a header parse per frame (text frames from the server are unmasked and unfragmented).
It answers pings, records the close code, and hands text payloads to a callback.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable


def _mask(payload: bytes) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return key + masked


def frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + _mask(payload)


class WsClient(asyncio.Protocol):
    def __init__(self, request: bytes, on_text: Callable[[bytes], None] | None) -> None:
        self.request = request
        self.on_text = on_text
        self.buffer = bytearray()
        self.open = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.frames = 0
        self.close_code: int | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during the handshake"))
        if self.close_code is None:
            self.close_code = 1006

    def send_text(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(1, text.encode()))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            del buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode()))
                self.close()
                return
            self.open = True
            self.ready.set_result(None)
        pos, size = 0, len(buf)
        on_text = self.on_text
        while size - pos >= 2:
            opcode, n = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if size < start + n:
                break
            pos = start + n
            if opcode == 1:
                self.frames += 1
                if on_text is not None:
                    on_text(bytes(buf[start:pos]))
            elif opcode == 9 and self.transport is not None:
                self.transport.write(frame(10, bytes(buf[start:pos])))
            elif opcode == 8:
                self.close_code = int.from_bytes(buf[start : start + 2], "big") if n else 1005
                self.close()
        del buf[:pos]


async def connect(
    port: int,
    path: str,
    token: str | None,
    on_text: Callable[[bytes], None] | None = None,
    subprotocol: str | None = "coagent.v1",
) -> WsClient:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: WsClient(request, on_text), "127.0.0.1", port)
    await asyncio.wait_for(client.ready, 60)
    return client
