"""The admin context: the database browser and the audit log."""

from coagent.adapters.http.admin.services import AdminServices
from coagent.adapters.persistence.browser import SqlAlchemyDatabaseBrowser
from coagent.application.admin.audit import ReadAuditLog
from coagent.application.admin.browse_rows import BrowseRows
from coagent.application.admin.browse_tables import BrowseTables
from coagent.main.compose.infra import Infrastructure


def admin_services(infra: Infrastructure) -> AdminServices:
    browser = SqlAlchemyDatabaseBrowser(infra.session_factory)
    return AdminServices(
        tables=BrowseTables(uow=infra.uow, browser=browser),
        rows=BrowseRows(uow=infra.uow, browser=browser),
        audit=ReadAuditLog(uow=infra.uow),
    )
