"""The course, room and announcement use cases the HTTP adapter calls (`services_of(...)`)."""

from dataclasses import dataclass

from litestar.di import NamedDependency

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


Courses = NamedDependency[CourseServices]
Rooms = NamedDependency[RoomServices]
Announcements = NamedDependency[AnnouncementServices]
