"""/api/v1/admin: the read-only database viewer and the audit log, for administrators."""

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get
from litestar.params import FromPath, QueryParameter

from coagent.adapters.http.admin.services import Admin, AdminServices
from coagent.adapters.http.auth import SECURITY
from coagent.adapters.http.deps import Current, services_of
from coagent.adapters.http.paging import Offset, paged
from coagent.adapters.http.problems import problems
from coagent.application.admin.audit import ReadAuditLogCommand
from coagent.application.admin.browse_rows import BrowseRowsCommand
from coagent.application.admin.browse_tables import BrowseTablesCommand
from coagent.application.ports.repositories import AuditEntry
from coagent.domain.errors import InvalidInput

NO_NUL = r"^[^\x00]*$"


class AuditEntryRead(msgspec.Struct):
    id: UUID
    created_at: datetime
    actor_id: UUID | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> "AuditEntryRead":
        return cls(
            id=entry.id,
            created_at=entry.created_at,
            actor_id=entry.actor_id,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            details=entry.details,
        )


def _moment(value: str | None, name: str) -> datetime | None:
    """An RFC 3339 date-time, parsed strictly (Litestar's own conversion also takes numbers as
    timestamps); a time without a zone is taken as UTC (the original stripped zones).
    """
    if value is None:
        return None
    try:
        moment = msgspec.convert(value, datetime)
    except msgspec.ValidationError as error:
        raise InvalidInput(f"{name} must be an ISO 8601 date-time") from error
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


class AdminController(Controller):
    path = "/api/v1/admin"
    tags = ["admin"]
    security = SECURITY
    dependencies = {"admin": services_of(AdminServices)}

    @get(
        "/db/tables",
        operation_id="admin_db_tables",
        description="Admins and super_admins: the tables the database viewer shows.",
        responses=problems(401, 403),
    )
    async def tables(self, admin: Admin, current: Current) -> list[str]:
        return await admin.tables.execute(BrowseTablesCommand(actor_id=current.user_id))

    @get(
        "/db/tables/{table_name:str}",
        operation_id="admin_db_rows",
        description=(
            "Admins and super_admins: one table's rows, newest first and read-only. Secret "
            "columns (password hashes, token ids, keys, avatar bytes) are never returned. "
            "`search` matches text and id columns literally (any case); `start_date` and "
            "`end_date` bound `created_at` (a time without a zone is UTC); "
            "`resolve_relations` adds readable names such as `user_email` or `course_title`."
        ),
        responses=problems(401, 403, 404),
    )
    async def rows(
        self,
        admin: Admin,
        current: Current,
        table_name: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        offset: Offset = 0,
        resolve_relations: Annotated[bool, QueryParameter()] = False,
        search: Annotated[str | None, QueryParameter(max_length=200, pattern=NO_NUL)] = None,
        start_date: Annotated[str | None, QueryParameter(format="date-time")] = None,
        end_date: Annotated[str | None, QueryParameter(format="date-time")] = None,
    ) -> list[dict[str, Any]]:
        return await admin.rows.execute(
            BrowseRowsCommand(
                actor_id=current.user_id,
                table=table_name,
                limit=limit,
                offset=offset,
                search=search,
                start=_moment(start_date, "start_date"),
                end=_moment(end_date, "end_date"),
                resolve_relations=resolve_relations,
            )
        )

    @get(
        "/audit",
        operation_id="admin_audit",
        description=(
            "Admins and super_admins: security-relevant actions, newest first, paged "
            "(`X-Total-Count`, `Link`); `action` keeps one kind (e.g. `user.deleted`)."
        ),
        responses=problems(401, 403),
    )
    async def audit(
        self,
        request: Request[Any, Any, Any],
        admin: Admin,
        current: Current,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        offset: Offset = 0,
        action: Annotated[str | None, QueryParameter(max_length=64, pattern=NO_NUL)] = None,
    ) -> Response[list[AuditEntryRead]]:
        page = await admin.audit.execute(
            ReadAuditLogCommand(actor_id=current.user_id, offset=offset, limit=limit, action=action)
        )
        return paged(request, page, offset, limit, AuditEntryRead.of)
