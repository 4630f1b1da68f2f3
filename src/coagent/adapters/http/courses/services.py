"""The course, room and announcement use cases the HTTP adapter calls (`services_of(...)`)."""

from dataclasses import dataclass

from litestar.di import NamedDependency

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
