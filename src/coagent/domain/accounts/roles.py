"""Global roles and the rules about who may grant them."""

from enum import StrEnum


class Role(StrEnum):
    """Global role of an account. The order of declaration is the order of rank."""

    GUEST = "guest"
    STUDENT = "student"
    TA = "ta"
    TEACHER = "teacher"
    ADMIN = "admin"
    SUPER_ADMIN = "super_admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: "Role") -> bool:
        return self.rank >= other.rank

    @property
    def is_admin(self) -> bool:
        return self.at_least(Role.ADMIN)

    @property
    def is_staff(self) -> bool:
        """Staff may look people up to enroll them: TAs, teachers and admins."""
        return self.at_least(Role.TA)


_RANK = {role: index for index, role in enumerate(Role)}
