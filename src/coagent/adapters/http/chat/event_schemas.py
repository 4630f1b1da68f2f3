"""The WebSocket's outbound events in the OpenAPI document's components.

OpenAPI has no WebSocket operations, so the event Structs are not reached from a route; their
JSON Schemas (msgspec's, the same types that encode the frames) are added as components, with
`ChatEvent`, the union discriminated by `type`, so a generated client can decode every frame.
Components the routes produced already (`MessageEvent`, `Author`, ...) are kept as they are.
"""

from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar import Litestar
from litestar.openapi.spec import Schema
from litestar.openapi.spec.base import BaseSchemaObject

from coagent.adapters.realtime.events import ChatEvent

REF = "#/components/schemas/{name}"


@dataclass
class _JsonSchema(BaseSchemaObject):
    """A component given as plain JSON Schema (OpenAPI 3.1 schemas are JSON Schema)."""

    body: dict[str, Any]

    def to_schema(self) -> dict[str, Any]:
        return self.body


def add_event_schemas(app: Litestar) -> None:
    (union,), components = msgspec.json.schema_components([ChatEvent], ref_template=REF)
    components["ChatEvent"] = {
        "title": "ChatEvent",
        "description": "Every frame the chat WebSocket sends (`type` tells which).",
        **union,
    }
    schemas = app.openapi_schema.components.schemas
    for name, body in components.items():
        schemas.setdefault(name, cast(Schema, _JsonSchema(body)))
