"""Errors the domain and application layers raise; adapters translate them (HTTP, WS, tasks)."""


class CoagentError(Exception):
    """Base of every expected failure. `detail` is safe to show to the caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(CoagentError):
    """The request is well formed but breaks a rule (a weak password, an unknown role)."""


class NotAuthenticated(CoagentError):
    """No valid session: missing, expired, revoked or wrong-type token."""


class InvalidCredentials(CoagentError):
    """Login failed; the same answer for an unknown account and a wrong password."""


class TooManyAttempts(CoagentError):
    """A throttle refused the attempt; `retry_after` is in seconds."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Forbidden(CoagentError):
    """Authenticated, but this action is not allowed for this caller."""


class NotFound(CoagentError):
    """Absent, or not visible to the caller (never leak existence)."""


class Conflict(CoagentError):
    """The action clashes with the current state (a taken email, a duplicate name)."""


class Unavailable(CoagentError):
    """A dependency cannot serve the request right now (no database connection came free
    in time); the work that hit it was not done and may be retried after `retry_after` seconds.
    """

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
