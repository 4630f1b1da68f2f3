"""The courses context: courses and membership, rooms and assignment, announcements."""

from coagent.adapters.http.courses.services import (
    AnnouncementServices,
    CourseServices,
    RoomServices,
)
from coagent.application.ports.events import EventPublisher
from coagent.main.compose.infra import Infrastructure
from coagent.main.compose.wiring import assemble


def course_services(infra: Infrastructure) -> CourseServices:
    return assemble(CourseServices, {"uow": infra.uow, "clock": infra.clock, "ids": infra.ids})


def room_services(infra: Infrastructure) -> RoomServices:
    return assemble(RoomServices, {"uow": infra.uow, "clock": infra.clock, "ids": infra.ids})


def announcement_services(infra: Infrastructure, events: EventPublisher) -> AnnouncementServices:
    return assemble(
        AnnouncementServices,
        {"uow": infra.uow, "events": events, "clock": infra.clock, "ids": infra.ids},
    )
