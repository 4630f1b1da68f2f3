"""The account use cases the HTTP adapter calls (`services_of(AccountServices)`)."""

from dataclasses import dataclass

from litestar.di import NamedDependency

from coagent.application.accounts.create_user import CreateUser
from coagent.application.accounts.delete_user import DeleteUser
from coagent.application.accounts.get_avatar import GetAvatar
from coagent.application.accounts.get_current_user import GetCurrentUser
from coagent.application.accounts.impersonate import Impersonate
from coagent.application.accounts.list_users import ListUsers
from coagent.application.accounts.log_in import LogIn
from coagent.application.accounts.log_out import LogOut
from coagent.application.accounts.log_out_everywhere import LogOutEverywhere
from coagent.application.accounts.refresh_session import RefreshSession
from coagent.application.accounts.search_users import SearchUsers
from coagent.application.accounts.set_avatar import SetAvatar
from coagent.application.accounts.stop_impersonating import StopImpersonating
from coagent.application.accounts.update_user import UpdateUser


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountServices:
    log_in: LogIn
    refresh: RefreshSession
    log_out: LogOut
    log_out_everywhere: LogOutEverywhere
    impersonate: Impersonate
    stop_impersonating: StopImpersonating
    current_user: GetCurrentUser
    update_user: UpdateUser
    create_user: CreateUser
    delete_user: DeleteUser
    list_users: ListUsers
    search_users: SearchUsers
    set_avatar: SetAvatar
    get_avatar: GetAvatar


Accounts = NamedDependency[AccountServices]
