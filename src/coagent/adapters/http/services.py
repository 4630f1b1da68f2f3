"""What the HTTP adapter needs from the composition root."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from coagent.adapters.http.agents.services import AgentServices
from coagent.adapters.http.analytics.services import AnalyticsServices
from coagent.adapters.realtime.hub import RoomHub
from coagent.application.accounts.authenticate import Authenticate
from coagent.application.accounts.avatar import GetAvatar, SetAvatar
from coagent.application.accounts.create_user import CreateUser
from coagent.application.accounts.delete_user import DeleteUser
from coagent.application.accounts.get_current_user import GetCurrentUser
from coagent.application.accounts.impersonate import Impersonate, StopImpersonating
from coagent.application.accounts.list_users import ListUsers, SearchUsers
from coagent.application.accounts.log_in import LogIn
from coagent.application.accounts.log_out import LogOut, LogOutEverywhere
from coagent.application.accounts.refresh_session import RefreshSession
from coagent.application.accounts.update_user import UpdateUser
from coagent.application.admin.audit import ReadAuditLog
from coagent.application.admin.database import BrowseRows, BrowseTables
from coagent.application.chat.join_room import JoinRoom
from coagent.application.chat.post_message import PostMessage
from coagent.application.chat.read_history import ReadHistory
from coagent.application.chat.tickets import IssueChatTicket, RedeemChatTicket
from coagent.application.courses.announcements import (
    DeleteAnnouncement,
    EditAnnouncement,
    ListAnnouncements,
    PostAnnouncement,
)
from coagent.application.courses.change_course import DeleteCourse, UpdateCourse
from coagent.application.courses.create_course import CreateCourse
from coagent.application.courses.members import ChangeMember, EnrollMember, ListMembers
from coagent.application.courses.read_courses import GetCourse, ListCourses
from coagent.application.courses.rooms import (
    AssignToRoom,
    CreateRoom,
    DeleteRoom,
    GetRoom,
    ListRooms,
    UpdateRoom,
)


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
