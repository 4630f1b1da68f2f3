"""The course authorization table: every relation against every action."""

import pytest

from coagent.domain.accounts.roles import Role
from coagent.domain.courses.policy import (
    REQUIRED,
    ROOM_SCOPED,
    Action,
    CourseRole,
    Decision,
    Relation,
    Standing,
    decide,
    may_create_course,
)

STANDINGS = {
    "outsider guest": Standing(global_role=Role.GUEST),
    "outsider teacher": Standing(global_role=Role.TEACHER),
    "student": Standing(global_role=Role.STUDENT, course_role=CourseRole.STUDENT),
    "ta": Standing(global_role=Role.STUDENT, course_role=CourseRole.TA),
    "co-teacher": Standing(global_role=Role.TEACHER, course_role=CourseRole.TEACHER),
    "owner": Standing(global_role=Role.TEACHER, course_role=CourseRole.TEACHER, is_owner=True),
    "admin": Standing(global_role=Role.ADMIN),
    "super_admin": Standing(global_role=Role.SUPER_ADMIN),
}
RELATIONS = {
    "outsider guest": Relation.OUTSIDER,
    "outsider teacher": Relation.OUTSIDER,
    "student": Relation.STUDENT,
    "ta": Relation.TA,
    "co-teacher": Relation.CO_TEACHER,
    "owner": Relation.OWNER,
    "admin": Relation.ADMIN,
    "super_admin": Relation.ADMIN,
}


def test_every_action_has_a_rule():
    assert set(REQUIRED) == set(Action)


@pytest.mark.parametrize("who", STANDINGS)
def test_relation(who):
    assert STANDINGS[who].relation is RELATIONS[who]


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("who", STANDINGS)
def test_decisions_follow_the_table(who, action):
    relation = RELATIONS[who]
    expected = (
        Decision.HIDDEN
        if relation is Relation.OUTSIDER
        else Decision.ALLOWED
        if relation >= REQUIRED[action]
        else Decision.DENIED
    )
    assert decide(STANDINGS[who], action) is expected


@pytest.mark.parametrize(
    ("action", "who", "decision"),
    [
        (Action.COURSE_DELETE, "co-teacher", Decision.DENIED),
        (Action.COURSE_DELETE, "owner", Decision.ALLOWED),
        (Action.TEACHERS_MANAGE, "co-teacher", Decision.DENIED),
        (Action.TAS_MANAGE, "ta", Decision.DENIED),
        (Action.STUDENTS_MANAGE, "ta", Decision.ALLOWED),
        (Action.MEMBER_EMAILS_READ, "student", Decision.DENIED),
        (Action.AGENT_CONFIG_READ, "student", Decision.DENIED),
        (Action.ANALYTICS_READ, "student", Decision.DENIED),
        (Action.ANALYTICS_RUN, "student", Decision.DENIED),
        (Action.ANALYTICS_JOB, "student", Decision.DENIED),
        (Action.ANALYTICS_JOB, "ta", Decision.ALLOWED),
        (Action.COURSE_READ, "outsider teacher", Decision.HIDDEN),
    ],
)
def test_the_rules_product_md_names(action, who, decision):
    assert decide(STANDINGS[who], action) is decision


@pytest.mark.parametrize("action", sorted(ROOM_SCOPED))
def test_assigned_rooms_are_hidden_from_unassigned_students_only(action):
    student = Standing(global_role=Role.STUDENT, course_role=CourseRole.STUDENT, assigned=False)
    assigned = Standing(global_role=Role.STUDENT, course_role=CourseRole.STUDENT, assigned=True)
    ta = Standing(global_role=Role.STUDENT, course_role=CourseRole.TA, assigned=False)
    assert decide(student, action) is Decision.HIDDEN
    assert decide(assigned, action) is Decision.ALLOWED
    assert decide(ta, action) is Decision.ALLOWED


def test_assignment_does_not_hide_course_level_actions():
    student = Standing(global_role=Role.STUDENT, course_role=CourseRole.STUDENT, assigned=False)
    assert decide(student, Action.ANNOUNCEMENT_READ) is Decision.ALLOWED


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.GUEST, False),
        (Role.STUDENT, False),
        (Role.TA, False),
        (Role.TEACHER, True),
        (Role.ADMIN, True),
        (Role.SUPER_ADMIN, True),
    ],
)
def test_who_may_create_courses(role, allowed):
    assert may_create_course(role) is allowed
