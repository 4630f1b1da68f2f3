"""The admin context: the database browser and the audit log."""

from coagent.adapters.http.admin.services import AdminServices
from coagent.adapters.persistence.browser import SqlAlchemyDatabaseBrowser
from coagent.main.compose.infra import Infrastructure
from coagent.main.compose.wiring import assemble


def admin_services(infra: Infrastructure) -> AdminServices:
    browser = SqlAlchemyDatabaseBrowser(infra.session_factory)
    return assemble(AdminServices, {"uow": infra.uow, "browser": browser})
