"""How a person's name is shown: decided here, once, for every path that shows one.

- `display_name`: what other people see of a person (chat senders, agent prompts and
  transcripts, analytics, staff-facing reasons, the member list's order): the full name, else
  the username, else the local part of the email address (the part before "@"), never the
  whole address, since course members who are not staff may not learn each other's emails.
  Where the person's account no longer exists (a message whose sender was deleted), the
  name is `UNKNOWN_PERSON`, as the original client showed.
- `public_name`: the name shown where not even the local part may appear (a course's
  `owner_name`, seen by every member): the full name, else the username, else nothing.

Blank parts count as missing. SQL that orders or labels by a name (the persistence adapters)
follows the same rules; their tests compare against these functions.
"""

from typing import Final

UNKNOWN_PERSON: Final = "Unknown"


def email_local_part(email: str) -> str:
    """The part of an address before its first "@" (the whole string if it has none)."""
    return email.split("@", 1)[0]


def display_name(full_name: str | None, username: str | None, email: str | None) -> str:
    """Full name, else username, else the email's local part; `UNKNOWN_PERSON` without an
    account (`email` None: the person was deleted).
    """
    if email is None:
        return UNKNOWN_PERSON
    return full_name or username or email_local_part(email)


def public_name(full_name: str | None, username: str | None) -> str | None:
    """Full name, else username, else None: never any part of the email address."""
    return full_name or username or None
