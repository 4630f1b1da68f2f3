"""Persistence models, re-exported for the composition root and migrations."""

from coagent.adapters.persistence._agent_models import (
    AgentConfigModel,
    AgentConfigVersionModel,
    AgentKeyModel,
)
from coagent.adapters.persistence._analytics_models import AnalyticsJobModel
from coagent.adapters.persistence._chat_models import (
    MIGRATION_ONLY_COLUMNS,
    AnalyticsReportModel,
    MessageModel,
)
from coagent.adapters.persistence._models import (
    AnnouncementModel,
    AuditEventModel,
    AuthSessionModel,
    AvatarModel,
    CourseMembershipModel,
    CourseModel,
    RoomAssignmentModel,
    RoomModel,
    SystemStateModel,
    UserModel,
    metadata,
)
from coagent.adapters.persistence._turn_models import (
    AgentProposalModel,
    AgentTurnModel,
    agent_room_considered,
    agent_room_lease,
    agent_tool_call,
)

__all__ = [
    "MIGRATION_ONLY_COLUMNS",
    "AgentConfigModel",
    "AgentConfigVersionModel",
    "AgentKeyModel",
    "AgentProposalModel",
    "AgentTurnModel",
    "AnalyticsJobModel",
    "AnalyticsReportModel",
    "AnnouncementModel",
    "AuditEventModel",
    "AuthSessionModel",
    "AvatarModel",
    "CourseMembershipModel",
    "CourseModel",
    "MessageModel",
    "RoomAssignmentModel",
    "RoomModel",
    "SystemStateModel",
    "UserModel",
    "agent_room_considered",
    "agent_room_lease",
    "agent_tool_call",
    "metadata",
]
