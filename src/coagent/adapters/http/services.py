"""What the HTTP adapter needs from the composition root."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from coagent.adapters.http.agents.services import AgentServices
from coagent.adapters.http.analytics.services import AnalyticsServices
from coagent.adapters.realtime.hub import RoomHub
from coagent.application.accounts.authenticate import Authenticate
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
from coagent.application.admin.audit import ReadAuditLog
from coagent.application.admin.browse_rows import BrowseRows
from coagent.application.admin.browse_tables import BrowseTables
from coagent.application.chat.issue_chat_ticket import IssueChatTicket
from coagent.application.chat.join_room import JoinRoom
from coagent.application.chat.post_message import PostMessage
from coagent.application.chat.read_history import ReadHistory
from coagent.application.chat.redeem_chat_ticket import RedeemChatTicket
from coagent.application.courses.assign_to_room import AssignToRoom
from coagent.application.courses.change_member import ChangeMember
from coagent.application.courses.create_course import CreateCourse
from coagent.application.courses.create_room import CreateRoom
from coagent.application.courses.delete_announcement import DeleteAnnouncement
from coagent.application.courses.delete_course import DeleteCourse
from coagent.application.courses.delete_room import DeleteRoom
from coagent.application.courses.edit_announcement import EditAnnouncement
from coagent.application.courses.enroll_member import EnrollMember
from coagent.application.courses.get_course import GetCourse
from coagent.application.courses.get_room import GetRoom
from coagent.application.courses.list_announcements import ListAnnouncements
from coagent.application.courses.list_courses import ListCourses
from coagent.application.courses.list_members import ListMembers
from coagent.application.courses.list_rooms import ListRooms
from coagent.application.courses.post_announcement import PostAnnouncement
from coagent.application.courses.update_course import UpdateCourse
from coagent.application.courses.update_room import UpdateRoom


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountServices:
    authenticate: Authenticate
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


@dataclass(frozen=True, slots=True, kw_only=True)
class CourseServices:
    create: CreateCourse
    list: ListCourses
    get: GetCourse
    update: UpdateCourse
    delete: DeleteCourse
    enroll: EnrollMember
    members: ListMembers
    change_member: ChangeMember


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomServices:
    create: CreateRoom
    list: ListRooms
    get: GetRoom
    update: UpdateRoom
    delete: DeleteRoom
    assign: AssignToRoom


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnouncementServices:
    post: PostAnnouncement
    list: ListAnnouncements
    edit: EditAnnouncement
    delete: DeleteAnnouncement


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminServices:
    tables: BrowseTables
    rows: BrowseRows
    audit: ReadAuditLog


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatLimits:
    max_frame_bytes: int = 64 * 1024
    messages_per_window: int = 20
    window_seconds: int = 10
    connections_per_user: int = 10
    queue_size: int = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatServices:
    post: PostMessage
    history: ReadHistory
    join: JoinRoom
    issue_ticket: IssueChatTicket
    redeem_ticket: RedeemChatTicket
    hub: RoomHub
    limits: ChatLimits
    # Origins whose pages may open a cookie-authenticated socket (besides our own).
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpConfig:
    allowed_origins: tuple[str, ...] = ()
    # Peers whose proxy headers count (see proxy.py); uvicorn's default.
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    secure_cookies: bool = False
    access_log: bool = True
    title: str = "CoAgent Studio API"
    version: str = "0.1.0"
    # Bearer token for GET /metrics; None: /metrics only for loopback callers.
    metrics_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpServices:
    accounts: AccountServices
    courses: CourseServices
    rooms: RoomServices
    announcements: AnnouncementServices
    admin: AdminServices
    chat: ChatServices
    agents: AgentServices
    analytics: AnalyticsServices
    # Readiness probes: name -> check raising on failure.
    readiness: Mapping[str, Callable[[], Awaitable[None]]]
