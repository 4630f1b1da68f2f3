"""The accounts context: sign-in, sessions, users, avatars; the CLI's admin and first start."""

from datetime import timedelta

from coagent.adapters.http.accounts.services import AccountServices
from coagent.application.accounts.authenticate import Authenticate
from coagent.application.accounts.bootstrap_super_admin import BootstrapSuperAdmin
from coagent.application.accounts.create_admin import CreateAdmin
from coagent.application.accounts.create_user import AccountFactory
from coagent.application.accounts.log_in import LoginThrottle
from coagent.application.accounts.purge_sessions import PurgeExpiredSessions
from coagent.application.accounts.sessions import SessionIssuer, SessionPolicy
from coagent.domain.accounts.throttle import Backoff
from coagent.main.compose.infra import Infrastructure
from coagent.main.compose.wiring import assemble
from coagent.main.settings import Settings


def authenticate(infra: Infrastructure) -> Authenticate:
    return Authenticate(tokens=infra.tokens, revocations=infra.revocations)


def account_factory(infra: Infrastructure) -> AccountFactory:
    return AccountFactory(hasher=infra.hasher, clock=infra.clock, ids=infra.ids)


def account_services(infra: Infrastructure) -> AccountServices:
    settings, uow, clock, ids = infra.settings, infra.uow, infra.clock, infra.ids
    sessions = SessionIssuer(
        policy=SessionPolicy(
            access_ttl=timedelta(seconds=settings.access_token_ttl),
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl),
            impersonation_ttl=timedelta(seconds=settings.impersonation_ttl),
        ),
        tokens=infra.tokens,
        revocations=infra.revocations,
        clock=clock,
        ids=ids,
    )
    ports = {
        "uow": uow,
        "hasher": infra.hasher,
        "limiter": infra.attempt_limiter,
        "throttle": login_throttle(settings),
        "sessions": sessions,
        "tokens": infra.tokens,
        "clock": clock,
        "ids": ids,
        "accounts": account_factory(infra),
    }
    return assemble(AccountServices, ports)


def create_admin(infra: Infrastructure) -> CreateAdmin:
    return CreateAdmin(uow=infra.uow, accounts=account_factory(infra))


def bootstrap_super_admin(infra: Infrastructure) -> BootstrapSuperAdmin:
    return BootstrapSuperAdmin(uow=infra.uow, accounts=account_factory(infra))


def purge_expired_sessions(infra: Infrastructure) -> PurgeExpiredSessions:
    return PurgeExpiredSessions(uow=infra.uow, clock=infra.clock)


def login_throttle(settings: Settings) -> LoginThrottle:
    """The free failures of each key, then back-off doubling from the first wait to the cap."""

    def backoff(free: int, window: int) -> Backoff:
        return Backoff(
            free=free,
            window_seconds=window,
            first_wait_seconds=settings.login_backoff_first,
            max_wait_seconds=settings.login_backoff_max,
        )

    return LoginThrottle(
        pair=backoff(settings.login_failures_per_pair, settings.login_failure_window),
        account=backoff(settings.login_failures_per_account, settings.login_account_window),
        address=backoff(settings.login_failures_per_address, settings.login_failure_window),
    )
