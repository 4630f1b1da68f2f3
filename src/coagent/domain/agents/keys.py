"""Provider keys of an agent configuration: their kinds, their order, their masks.

A configuration holds at most one key of each type:

| key type     | meaning                                                   |
|--------------|-----------------------------------------------------------|
| `room_key`   | a key meant for the rooms' traffic (most specific)        |
| `global_key` | a key shared across the course's agents                   |
| `api_key`    | the configuration's main key (the original's only key; the SPA edits it) |
| `backup_key` | the last resort, when every other key is rejected or rate-limited |

`KEY_ORDER` is the order a provider call tries them in: most specific first, backup last.
A key that is not stored is skipped.
"""

import re
from enum import StrEnum
from typing import Final

from coagent.domain.errors import InvalidInput


class KeyType(StrEnum):
    API_KEY = "api_key"
    ROOM_KEY = "room_key"
    GLOBAL_KEY = "global_key"
    BACKUP_KEY = "backup_key"


KEY_ORDER: Final = (KeyType.ROOM_KEY, KeyType.GLOBAL_KEY, KeyType.API_KEY, KeyType.BACKUP_KEY)

MAX_KEY_LENGTH: Final = 512
# What a client may send as a key: printable ASCII without spaces, or a mask it was shown
# (which contains "…" or is all asterisks) and which never replaces the stored key.
KEY_VALUE_PATTERN: Final = r"^[!-~…]{0,512}$"
_KEY = re.compile(r"^[!-~]{1,512}$")
# Keys shorter than this are masked entirely: showing 5 of their characters would say too much.
MIN_PARTLY_SHOWN: Final = 16
FULL_MASK: Final = "****"


def mask_key(key: str) -> str:
    """`sk-…89`: the first three and last two characters of a long key, `****` otherwise."""
    if len(key) < MIN_PARTLY_SHOWN:
        return FULL_MASK
    return f"{key[:3]}…{key[-2:]}"


def looks_masked(value: str) -> bool:
    """A mask sent back by a client (never a real key: keys are printable ASCII)."""
    return "…" in value or (value != "" and set(value) == {"*"})


def check_key(value: str) -> str:
    """A key as it is stored: surrounding whitespace removed, then printable ASCII only."""
    key = value.strip()
    if not _KEY.match(key):
        raise InvalidInput(
            f"A provider key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        )
    return key
