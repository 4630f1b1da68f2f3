"""The accounts context: sign-in, sessions, users, avatars; the CLI's admin and first start."""

from datetime import timedelta

from coagent.adapters.http.accounts.services import AccountServices
from coagent.application.accounts.authenticate import Authenticate
from coagent.application.accounts.bootstrap_super_admin import BootstrapSuperAdmin
from coagent.application.accounts.create_admin import CreateAdmin
from coagent.application.accounts.create_user import AccountFactory, CreateUser
from coagent.application.accounts.delete_user import DeleteUser
from coagent.application.accounts.get_avatar import GetAvatar
from coagent.application.accounts.get_current_user import GetCurrentUser
from coagent.application.accounts.impersonate import Impersonate
from coagent.application.accounts.list_users import ListUsers
from coagent.application.accounts.log_in import LogIn, LoginThrottle
from coagent.application.accounts.log_out import LogOut
from coagent.application.accounts.log_out_everywhere import LogOutEverywhere
from coagent.application.accounts.purge_sessions import PurgeExpiredSessions
from coagent.application.accounts.refresh_session import RefreshSession
from coagent.application.accounts.search_users import SearchUsers
from coagent.application.accounts.sessions import SessionIssuer, SessionPolicy
from coagent.application.accounts.set_avatar import SetAvatar
from coagent.application.accounts.stop_impersonating import StopImpersonating
from coagent.application.accounts.update_user import UpdateUser
from coagent.domain.accounts.throttle import Backoff
from coagent.main.compose.infra import Infrastructure
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
    return AccountServices(
        log_in=LogIn(
            uow=uow,
            hasher=infra.hasher,
            limiter=infra.attempt_limiter,
            throttle=login_throttle(settings),
            sessions=sessions,
        ),
        refresh=RefreshSession(uow=uow, tokens=infra.tokens, sessions=sessions, clock=clock),
        log_out=LogOut(uow=uow, tokens=infra.tokens, sessions=sessions),
        log_out_everywhere=LogOutEverywhere(uow=uow, sessions=sessions),
        impersonate=Impersonate(uow=uow, sessions=sessions),
        stop_impersonating=StopImpersonating(uow=uow, sessions=sessions, clock=clock),
        current_user=GetCurrentUser(uow=uow),
        update_user=UpdateUser(uow=uow, hasher=infra.hasher, sessions=sessions),
        create_user=CreateUser(uow=uow, accounts=account_factory(infra)),
        delete_user=DeleteUser(uow=uow, sessions=sessions),
        list_users=ListUsers(uow=uow),
        search_users=SearchUsers(uow=uow),
        set_avatar=SetAvatar(uow=uow, clock=clock, ids=ids),
        get_avatar=GetAvatar(uow=uow),
    )


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
