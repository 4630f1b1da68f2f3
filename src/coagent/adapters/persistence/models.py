"""Persistence models, re-exported for the composition root and migrations."""

from coagent.adapters.persistence._models import (
    AuditEventModel,
    AuthSessionModel,
    AvatarModel,
    CourseMembershipModel,
    CourseModel,
    SystemStateModel,
    UserModel,
    metadata,
)

__all__ = [
    "AuditEventModel",
    "AuthSessionModel",
    "AvatarModel",
    "CourseMembershipModel",
    "CourseModel",
    "SystemStateModel",
    "UserModel",
    "metadata",
]
