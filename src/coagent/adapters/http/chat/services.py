"""The chat use cases the HTTP and WebSocket handlers call (`services_of(ChatServices)`)."""

from dataclasses import dataclass

from litestar.di import NamedDependency

from coagent.adapters.realtime.chat_session import ChatLimits
from coagent.adapters.realtime.hub import RoomHub
from coagent.application.chat.issue_chat_ticket import IssueChatTicket
from coagent.application.chat.join_room import JoinRoom
from coagent.application.chat.post_message import PostMessage
from coagent.application.chat.read_history import ReadHistory
from coagent.application.chat.redeem_chat_ticket import RedeemChatTicket


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


Chat = NamedDependency[ChatServices]
