r"""Input no operation can take, refused where it is decoded, once for every operation.

PostgreSQL refuses NUL characters in text and jsonb; msgspec raises UnicodeDecodeError on raw
invalid UTF-8 and RecursionError on deep nesting. Left to the handlers, each of these was a
500. Here they are problem documents: 400 for bytes that are not readable text or JSON, 422 for
readable text the API does not accept (a NUL). Unpaired surrogate escapes (`"\ud800"`) need no
rule of their own: msgspec refuses them as malformed JSON (400).
"""

import re
from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec
from litestar.exceptions import ClientException

# Deeper than any body the API documents (agent `settings` allow far less): the limit only
# keeps recursive code, ours and the decoder's, far from Python's recursion limit.
MAX_JSON_DEPTH = 64

# A `\u0000` escape, not preceded by an escaped backslash (`\\u0000` is the text "\u0000"):
# only a quick test of the raw body. What counts is the body as the operation decoded it: a
# NUL in a field it ignores is harmless (a schema with extra properties allows any text there).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# A JSON string literal (its brackets are no nesting), in the unrolled, non-backtracking form.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")
_JSON_TYPES = ("application/json",)


def is_json_content(content_type: str, body: bytes) -> bool:
    """Whether a body is meant as JSON: declared so, or undeclared and looking like it."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base in _JSON_TYPES or base.endswith("+json"):
        return True
    return base == "" and body.lstrip()[:1] in {b"{", b"["}


def refuse_unreadable_json(body: bytes) -> None:
    """Raise a 400 problem for a JSON body that is not UTF-8 or nests too deeply."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ClientException(
            detail=f"The body is not valid UTF-8 (byte {error.start} cannot be decoded)"
        ) from None
    if json_depth_exceeds(body, MAX_JSON_DEPTH):
        raise ClientException(detail=f"JSON nests deeper than {MAX_JSON_DEPTH} levels")


_NUL_DETAIL = "Text in the body must not contain NUL characters (\\u0000)"
# Where msgspec says a value failed ("... - at `$.settings.tags[0]`"), and the steps there.
_AT = re.compile(r" - at `(\$[^`]*)`$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def refuse_nul_text(decoded: Any) -> None:
    """Raise a 422 problem when a body, as the operation decoded it (fields it ignores are
    gone), holds a NUL in any string of its declared fields. Free-form JSON objects (agent
    `settings`, typed as any JSON) are left to the domain, which drops their NULs: their
    schema cannot say "no NUL at any depth", so a NUL there is schema-valid.
    """
    if _holds_nul(decoded):
        raise ClientException(status_code=422, detail=_NUL_DETAIL)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, msgspec.Struct):
        return any(_holds_nul(getattr(value, name)) for name in value.__struct_fields__)
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nul(item) for item in value)
    return False


def refuse_nul_at(body: bytes, message: str) -> None:
    """Raise the NUL problem when msgspec refused a body for the value at the path its
    `message` names, and that value holds a NUL (most text fields' patterns exclude NUL):
    a clearer `detail` than the pattern.
    """
    at = _AT.search(message)
    if at is None or not _NUL_ESCAPE.search(body):
        return
    try:
        value: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return
    for key, index in _STEP.findall(at.group(1)):
        try:
            value = value[key] if key else value[int(index)]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(value, str) and "\x00" in value:
        raise ClientException(status_code=422, detail=f"{_NUL_DETAIL}, at `{at.group(1)}`")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit` (outside string literals)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case, without a scan
    brackets = _STRING.sub(b'""', body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def refuse_unreadable_query(raw: bytes) -> None:
    """Raise a 400 (not UTF-8) or 422 (a NUL) problem for a query string."""
    if not raw:
        return
    decoded = unquote_to_bytes(raw.replace(b"+", b" "))
    if b"\x00" in decoded:
        raise ClientException(
            status_code=422, detail="Query parameters must not contain NUL characters"
        )
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise ClientException(detail="The query string is not valid UTF-8") from None
