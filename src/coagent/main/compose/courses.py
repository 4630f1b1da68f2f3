"""The courses context: courses and membership, rooms and assignment, announcements."""

from coagent.adapters.http.courses.services import (
    AnnouncementServices,
    CourseServices,
    RoomServices,
)
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
from coagent.application.ports.events import EventPublisher
from coagent.main.compose.infra import Infrastructure


def course_services(infra: Infrastructure) -> CourseServices:
    uow, clock = infra.uow, infra.clock
    return CourseServices(
        create=CreateCourse(uow=uow, clock=clock, ids=infra.ids),
        list=ListCourses(uow=uow),
        get=GetCourse(uow=uow),
        update=UpdateCourse(uow=uow, clock=clock),
        delete=DeleteCourse(uow=uow),
        enroll=EnrollMember(uow=uow),
        members=ListMembers(uow=uow),
        change_member=ChangeMember(uow=uow),
    )


def room_services(infra: Infrastructure) -> RoomServices:
    uow, clock = infra.uow, infra.clock
    return RoomServices(
        create=CreateRoom(uow=uow, clock=clock, ids=infra.ids),
        list=ListRooms(uow=uow),
        get=GetRoom(uow=uow),
        update=UpdateRoom(uow=uow, clock=clock),
        delete=DeleteRoom(uow=uow),
        assign=AssignToRoom(uow=uow),
    )


def announcement_services(infra: Infrastructure, events: EventPublisher) -> AnnouncementServices:
    uow, clock = infra.uow, infra.clock
    return AnnouncementServices(
        post=PostAnnouncement(uow=uow, events=events, clock=clock, ids=infra.ids),
        list=ListAnnouncements(uow=uow),
        edit=EditAnnouncement(uow=uow, events=events, clock=clock),
        delete=DeleteAnnouncement(uow=uow, events=events),
    )
