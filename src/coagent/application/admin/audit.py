"""ReadAuditLog: the security-relevant actions, for administrators."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.ports.repositories import AuditEntry, Page
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.accounts import policy
from coagent.domain.errors import Forbidden, InvalidInput

MAX_PAGE = 500
MAX_ACTION = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadAuditLogCommand:
    actor_id: UUID
    offset: int = 0
    limit: int = 100
    action: str | None = None


class ReadAuditLog(UnitOfWorkUseCase):
    """Admins. Newest first, paged; `action` keeps one kind of event (e.g. `user.deleted`)."""

    async def execute(self, command: ReadAuditLogCommand) -> Page[AuditEntry]:
        if command.offset < 0 or not 1 <= command.limit <= MAX_PAGE:
            raise InvalidInput(f"offset must be >= 0 and limit between 1 and {MAX_PAGE}")
        action = (command.action or "").strip() or None
        if action is not None and len(action) > MAX_ACTION:
            raise InvalidInput(f"action is limited to {MAX_ACTION} characters")
        async with self._uow() as uow:
            actor = await load_actor(uow, command.actor_id)
            if not policy.may_administer_users(actor):
                raise Forbidden("Only administrators may read the audit log")
            return await uow.audit.list(offset=command.offset, limit=command.limit, action=action)
