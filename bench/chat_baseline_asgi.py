"""The bare-ASGI broadcast baseline for bench/chat_fanout.py (P4).

    uvicorn --app-dir bench chat_baseline_asgi:app

One process, no framework, no auth, no Redis, no queues: every text frame received on any
WebSocket is sent to every connected socket (the sender included), awaiting each send in
turn. It accepts the `coagent.v1` subprotocol so the same client harness can talk to it.
"""

from typing import Any

_sockets: set[Any] = set()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    wanted = "coagent.v1" if "coagent.v1" in (scope.get("subprotocols") or []) else None
    await send({"type": "websocket.accept", "subprotocol": wanted})
    _sockets.add(send)
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                continue
            for peer in list(_sockets):
                try:
                    await peer({"type": "websocket.send", "text": text})
                except Exception:  # noqa: BLE001 - a closed peer is skipped
                    _sockets.discard(peer)
    finally:
        _sockets.discard(send)
