"""The administration use cases the HTTP adapter calls (`services_of(AdminServices)`)."""

from dataclasses import dataclass

from litestar.di import NamedDependency

from coagent.application.admin.audit import ReadAuditLog
from coagent.application.admin.browse_rows import BrowseRows
from coagent.application.admin.browse_tables import BrowseTables


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminServices:
    tables: BrowseTables
    rows: BrowseRows
    audit: ReadAuditLog


Admin = NamedDependency[AdminServices]
