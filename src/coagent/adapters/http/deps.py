"""Names handlers use to ask for what the app provides (explicit, as Litestar 3 requires)."""

from litestar.di import NamedDependency

from coagent.adapters.http.services import HttpConfig, HttpServices
from coagent.application.accounts.authenticate import Principal

Services = NamedDependency[HttpServices]
Config = NamedDependency[HttpConfig]
# The authenticated caller (401 when there is none) ...
Current = NamedDependency[Principal]
# ... or None, for the few endpoints that work either way.
MaybePrincipal = NamedDependency[Principal | None]
