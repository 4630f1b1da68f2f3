"""LogOut: end one session at once."""

from contextlib import suppress
from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.sessions import SessionIssuer
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.application.ports.security import TokenCodec
from coagent.domain.errors import NotAuthenticated


@dataclass(frozen=True, slots=True, kw_only=True)
class LogOutCommand:
    session_id: UUID | None = None
    refresh_token: str | None = None


class LogOut:
    """Anyone holding a token of the session (access or refresh). Idempotent: logging out
    with no valid token is not an error, the client just loses its cookies.
    """

    def __init__(
        self, *, uow: UnitOfWorkFactory, tokens: TokenCodec, sessions: SessionIssuer
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._sessions = sessions

    async def execute(self, command: LogOutCommand) -> None:
        ids: set[UUID] = set()
        if command.session_id is not None:
            ids.add(command.session_id)
        if command.refresh_token:
            with suppress(NotAuthenticated):  # an expired or forged token ends nothing
                ids.add(self._tokens.decode_refresh(command.refresh_token).session_id)
        if not ids:
            return
        async with self._uow() as uow:
            for session_id in ids:
                await self._sessions.revoke(uow, session_id)
            await uow.commit()
        await self._sessions.announce(sorted(ids))
