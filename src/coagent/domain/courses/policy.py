"""The one authorization policy for everything inside a course.

Every decision is made from three facts: the caller's global role, the caller's relation to the
course (owner, course role or none) and, for rooms with assigned members, whether the caller is
assigned. Callers get `Decision.HIDDEN` (answer 404: the course or room is not theirs to know of),
`Decision.DENIED` (403: they may see it but not do this) or `Decision.ALLOWED`.

Relation to the course, lowest first:

| relation    | who                                                         |
|-------------|-------------------------------------------------------------|
| OUTSIDER    | not a member (guests, other courses' people)                |
| STUDENT     | member with course role `student`                           |
| TA          | member with course role `ta`                                |
| CO_TEACHER  | member with course role `teacher` who does not own it       |
| OWNER       | the course's owner                                          |
| ADMIN       | global `admin` or `super_admin`, member or not              |

The least relation each action needs (`REQUIRED`) is the table below; it is the code too.
"""

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from coagent.domain.accounts.roles import Role


class CourseRole(StrEnum):
    TEACHER = "teacher"
    TA = "ta"
    STUDENT = "student"


class Relation(IntEnum):
    OUTSIDER = 0
    STUDENT = 1
    TA = 2
    CO_TEACHER = 3
    OWNER = 4
    ADMIN = 5


class Action(StrEnum):
    COURSE_READ = "course.read"
    COURSE_UPDATE = "course.update"
    COURSE_DELETE = "course.delete"
    MEMBERS_READ = "members.read"
    MEMBER_EMAILS_READ = "members.read_emails"
    STUDENTS_MANAGE = "members.manage_students"
    TAS_MANAGE = "members.manage_tas"
    TEACHERS_MANAGE = "members.manage_teachers"
    ROOM_CREATE = "room.create"
    ROOM_READ = "room.read"
    ROOM_UPDATE = "room.update"
    ROOM_DELETE = "room.delete"
    ROOM_ASSIGN = "room.assign"
    CHAT_READ = "chat.read"
    CHAT_WRITE = "chat.write"
    ANNOUNCEMENT_READ = "announcement.read"
    ANNOUNCEMENT_WRITE = "announcement.write"
    AGENT_CONFIG_READ = "agent_config.read"
    AGENT_CONFIG_MANAGE = "agent_config.manage"
    ANALYTICS_READ = "analytics.read"
    ANALYTICS_RUN = "analytics.run"
    AGENT_TURN_REQUEST = "agent_turn.request"
    AGENT_TURNS_READ = "agent_turn.read"
    PROPOSALS_READ = "agent_proposal.read"
    PROPOSAL_DECIDE = "agent_proposal.decide"

    ANALYTICS_JOB = "analytics.job"


# The table. Reading it: "to <action> you must be at least <relation> of the course".
REQUIRED: dict[Action, Relation] = {
    Action.COURSE_READ: Relation.STUDENT,
    Action.COURSE_UPDATE: Relation.CO_TEACHER,
    Action.COURSE_DELETE: Relation.OWNER,
    Action.MEMBERS_READ: Relation.STUDENT,
    Action.MEMBER_EMAILS_READ: Relation.TA,
    Action.STUDENTS_MANAGE: Relation.TA,
    Action.TAS_MANAGE: Relation.CO_TEACHER,
    Action.TEACHERS_MANAGE: Relation.OWNER,
    Action.ROOM_CREATE: Relation.TA,
    Action.ROOM_READ: Relation.STUDENT,
    Action.ROOM_UPDATE: Relation.TA,
    Action.ROOM_DELETE: Relation.TA,
    Action.ROOM_ASSIGN: Relation.TA,
    Action.CHAT_READ: Relation.STUDENT,
    Action.CHAT_WRITE: Relation.STUDENT,
    Action.ANNOUNCEMENT_READ: Relation.STUDENT,
    Action.ANNOUNCEMENT_WRITE: Relation.TA,
    Action.AGENT_CONFIG_READ: Relation.TA,
    Action.AGENT_CONFIG_MANAGE: Relation.CO_TEACHER,
    Action.ANALYTICS_READ: Relation.TA,
    Action.ANALYTICS_RUN: Relation.TA,
    Action.AGENT_TURN_REQUEST: Relation.TA,
    Action.AGENT_TURNS_READ: Relation.TA,
    Action.ANALYTICS_JOB: Relation.TA,
    Action.PROPOSALS_READ: Relation.TA,
    Action.PROPOSAL_DECIDE: Relation.TA,
}

# Actions on a room that an assignment restricts: a room with assigned members is, for
# students, visible only to those members.
ROOM_SCOPED = frozenset({Action.ROOM_READ, Action.CHAT_READ, Action.CHAT_WRITE})

# Which management action a course role falls under.
MANAGE_ACTION: dict[CourseRole, Action] = {
    CourseRole.STUDENT: Action.STUDENTS_MANAGE,
    CourseRole.TA: Action.TAS_MANAGE,
    CourseRole.TEACHER: Action.TEACHERS_MANAGE,
}


class Decision(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    HIDDEN = "hidden"


@dataclass(frozen=True, slots=True, kw_only=True)
class Standing:
    """What the policy knows of the caller, for one course (and maybe one room)."""

    global_role: Role
    course_role: CourseRole | None = None
    is_owner: bool = False
    # For room actions: None when the room has no assigned members (open to the course),
    # otherwise whether the caller is one of them.
    assigned: bool | None = None

    @property
    def relation(self) -> Relation:
        if self.global_role.is_admin:
            return Relation.ADMIN
        if self.is_owner:
            return Relation.OWNER
        return {
            CourseRole.TEACHER: Relation.CO_TEACHER,
            CourseRole.TA: Relation.TA,
            CourseRole.STUDENT: Relation.STUDENT,
            None: Relation.OUTSIDER,
        }[self.course_role]


def decide(standing: Standing, action: Action) -> Decision:
    relation = standing.relation
    if relation is Relation.OUTSIDER:
        return Decision.HIDDEN
    if action in ROOM_SCOPED and standing.assigned is False and relation < Relation.TA:
        return Decision.HIDDEN
    return Decision.ALLOWED if relation >= REQUIRED[action] else Decision.DENIED


def may_create_course(global_role: Role) -> bool:
    return global_role.at_least(Role.TEACHER)
