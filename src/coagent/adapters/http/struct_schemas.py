"""What Litestar 2 leaves out when it renders msgspec Structs, restated from msgspec's own
declarations (no attribute of ours, no list kept by hand).

Field bounds Litestar drops (a zero lower bound, an array's item bounds) are written on the
fields themselves as `msgspec.Meta(extra_json_schema={"extra": {...}})`, which Litestar copies
into the property's schema; a request body's own extras (`anyOf`, a description) as
`Body(schema_extra=...)` on the handler's `data`. Two things have no such place, since
Litestar ignores a Struct's own configuration (litestar#4575): `forbid_unknown_fields`
(rendered here as `additionalProperties: false`) and a tagged Struct's tag (rendered as the
tag property's `default`, so generated SDKs fill it in). `complete_struct_schemas` adds both
to every component rendered from one of our Structs, and copies a body's properties into each
`anyOf` alternative (generators such as openapi-python-client make one model per alternative
and drop the properties beside `anyOf`).
"""

from collections.abc import Iterator

import msgspec
from litestar import Litestar
from litestar.openapi.spec import OpenAPIType, Schema

OURS = "coagent.adapters.http."


def _our_structs(base: type[msgspec.Struct] = msgspec.Struct) -> Iterator[type[msgspec.Struct]]:
    for struct in base.__subclasses__():
        if struct.__module__.startswith(OURS):
            yield struct
        yield from _our_structs(struct)


def complete_struct_schemas(app: Litestar) -> None:
    """Restate msgspec's `forbid_unknown_fields` and tags in the app's component schemas."""
    schemas = app.openapi_schema.components.schemas or {}
    structs: dict[str, list[type[msgspec.Struct]]] = {}
    for struct in _our_structs():
        structs.setdefault(struct.__name__, []).append(struct)
    for name, candidates in structs.items():
        component = schemas.get(name)
        if len(set(candidates)) != 1 or not isinstance(component, Schema):
            continue  # not in the document, or two Structs share the name
        info = msgspec.inspect.type_info(candidates[0])
        assert isinstance(info, msgspec.inspect.StructType)  # noqa: S101 - a Struct's info
        if info.forbid_unknown_fields:
            component.additional_properties = False
        if info.tag_field is not None:
            tag = (component.properties or {}).get(info.tag_field)
            if isinstance(tag, Schema):
                tag.default = info.tag
        for alternative in component.any_of or ():
            if isinstance(alternative, Schema) and alternative.properties is not None:
                alternative.type = OpenAPIType.OBJECT
                alternative.properties = {**(component.properties or {}), **alternative.properties}
