"""The live course event an announcement change publishes (post, edit, delete)."""

from coagent.application.ports.events import CourseEvent
from coagent.domain.courses.announcement import Announcement


def announcement_event(kind: str, announcement: Announcement) -> CourseEvent:
    return CourseEvent(
        course_id=announcement.course_id,
        type=f"announcement.{kind}",
        data={
            "id": str(announcement.id),
            "title": announcement.title,
            "content": announcement.content,
            "author_id": str(announcement.author_id) if announcement.author_id else None,
            "created_at": announcement.created_at.isoformat(),
            "updated_at": announcement.updated_at.isoformat(),
        },
    )
