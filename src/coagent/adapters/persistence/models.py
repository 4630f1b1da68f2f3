"""Persistence models, re-exported for the composition root and migrations."""

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

__all__ = [
    "AnnouncementModel",
    "AuditEventModel",
    "AuthSessionModel",
    "AvatarModel",
    "CourseMembershipModel",
    "CourseModel",
    "RoomAssignmentModel",
    "RoomModel",
    "SystemStateModel",
    "UserModel",
    "metadata",
]
