"""A full scenario through the client `openapi-python-client` generates from our document.

Not a test module: `test_generated_client.py` copies it beside the generated package, type-checks
both with `mypy --strict` (so the SDK's types are usable as written here), then runs it against a
live server: `python generated_client_scenario.py BASE_URL EMAIL PASSWORD`. It exits non-zero
on the first failed expectation and prints "scenario passed" at the end.
"""

import sys
import uuid

from co_agent_studio_api_client import AuthenticatedClient, Client
from co_agent_studio_api_client.api.agents import (
    agents_activate,
    agents_create,
    agents_keys_read,
    agents_keys_update,
)
from co_agent_studio_api_client.api.chat import chat_list_messages, chat_send_message
from co_agent_studio_api_client.api.courses import courses_create, courses_enroll, courses_read
from co_agent_studio_api_client.api.login import login_access_token
from co_agent_studio_api_client.api.meta import list_timezones
from co_agent_studio_api_client.api.rooms import rooms_assign, rooms_create
from co_agent_studio_api_client.api.users import users_create
from co_agent_studio_api_client.models import (
    AgentConfigCreate,
    AgentConfigRead,
    AgentKeysRead,
    AgentKeysUpdate,
    AgentType,
    AssignByUserId,
    CourseCreate,
    CourseRead,
    CourseRole,
    EnrollByEmail,
    LoginAccessTokenBody,
    MessageCountTrigger,
    MessageCreate,
    MessageEvent,
    Notice,
    Problem,
    Provider,
    RoomCreate,
    RoomRead,
    ScheduleConfig,
    TimeZoneList,
    TokenResponse,
    UserCreate,
    UserRead,
)


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"scenario failed: {what}")


def log_in(base_url: str, username: str, password: str) -> AuthenticatedClient:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    tokens = login_access_token.sync(
        client=anonymous, body=LoginAccessTokenBody(username=username, password=password)
    )
    check(isinstance(tokens, TokenResponse), f"login answered {tokens!r}")
    assert isinstance(tokens, TokenResponse)
    return AuthenticatedClient(
        base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True
    )


def main(base_url: str, email: str, password: str) -> None:
    admin = log_in(base_url, email, password)

    # A wrong password: a typed problem, not an exception or None.
    refused = login_access_token.sync(
        client=Client(base_url=base_url),
        body=LoginAccessTokenBody(username=email, password=password + "-wrong"),
    )
    check(isinstance(refused, Problem) and refused.status == 400, f"bad login: {refused!r}")

    student_email = f"student-{uuid.uuid4().hex[:8]}@example.org"
    student = users_create.sync(
        client=admin,
        body=UserCreate(email=student_email, password="a long student passphrase"),
    )
    check(isinstance(student, UserRead), f"create user: {student!r}")
    assert isinstance(student, UserRead)

    course = courses_create.sync(client=admin, body=CourseCreate(title="SDK course"))
    check(isinstance(course, CourseRead), f"create course: {course!r}")
    assert isinstance(course, CourseRead)

    enrolled = courses_enroll.sync(
        course.id,
        client=admin,
        body=EnrollByEmail(user_email=student_email, role=CourseRole.STUDENT),
    )
    check(isinstance(enrolled, Notice) and "enrolled" in enrolled.message, f"enroll: {enrolled!r}")

    room = rooms_create.sync(client=admin, body=RoomCreate(name="SDK room", course_id=course.id))
    check(isinstance(room, RoomRead), f"create room: {room!r}")
    assert isinstance(room, RoomRead)
    assigned = rooms_assign.sync(room.id, client=admin, body=AssignByUserId(user_id=student.id))
    check(isinstance(assigned, Notice), f"assign: {assigned!r}")

    student_client = log_in(base_url, student_email, "a long student passphrase")
    key = uuid.uuid4().hex
    first = chat_send_message.sync_detailed(
        room.id,
        client=student_client,
        body=MessageCreate(content="hello from the SDK"),
        idempotency_key=key,
    )
    check(first.status_code == 201 and isinstance(first.parsed, MessageEvent), f"send: {first}")
    replay = chat_send_message.sync_detailed(
        room.id,
        client=student_client,
        body=MessageCreate(content="hello from the SDK"),
        idempotency_key=key,
    )
    check(
        replay.status_code == 200 and isinstance(replay.parsed, MessageEvent),
        f"a replayed send is typed: {replay.status_code} {replay.parsed!r}",
    )
    assert isinstance(first.parsed, MessageEvent)
    assert isinstance(replay.parsed, MessageEvent)
    check(replay.parsed.id == first.parsed.id, "the replay answers the stored message")
    history = chat_list_messages.sync(room.id, client=admin)
    check(isinstance(history, list), f"history: {history!r}")
    assert isinstance(history, list)
    check(
        [message.content for message in history] == ["hello from the SDK"],
        f"history: {history!r}",
    )

    zones = list_timezones.sync(client=admin)
    check(isinstance(zones, TimeZoneList) and "Europe/Berlin" in zones.timezones, "time zones")
    config = agents_create.sync(
        course.id,
        client=admin,
        body=AgentConfigCreate(
            type_=AgentType.TEACHER,
            system_prompt="You are a helpful teacher.",
            name="SDK teacher",
            model_provider=Provider.OPENAI,
            model="gpt-4o-mini",
            trigger_config=MessageCountTrigger(value=3),
            schedule_config=ScheduleConfig(timezone="Europe/Berlin"),
        ),
    )
    check(isinstance(config, AgentConfigRead), f"create agent configuration: {config!r}")
    assert isinstance(config, AgentConfigRead)
    check(isinstance(config.trigger_config, MessageCountTrigger), "the trigger comes back typed")
    unknown_zone = agents_create.sync(
        course.id,
        client=admin,
        body=AgentConfigCreate(
            type_=AgentType.TEACHER,
            system_prompt="x",
            schedule_config=ScheduleConfig(timezone="Mars/Olympus_Mons"),
        ),
    )
    check(
        isinstance(unknown_zone, Problem) and unknown_zone.status == 422,
        f"an unknown time zone is refused: {unknown_zone!r}",
    )
    updated = agents_keys_update.sync(
        config.id, client=admin, body=AgentKeysUpdate(room_key="sk-sdk-scenario-0123456789")
    )
    check(isinstance(updated, AgentConfigRead), f"keys update: {updated!r}")
    masks = agents_keys_read.sync(config.id, client=admin)
    check(isinstance(masks, AgentKeysRead), f"keys read: {masks!r}")
    assert isinstance(masks, AgentKeysRead)
    check(
        isinstance(masks.room_key, str) and "0123456789" not in masks.room_key,
        f"a mask: {masks!r}",
    )
    active = agents_activate.sync(config.id, client=admin)
    check(isinstance(active, AgentConfigRead) and active.is_active, f"activate: {active!r}")

    missing = courses_read.sync(uuid.uuid4(), client=admin)
    check(
        isinstance(missing, Problem) and missing.status == 404 and missing.detail != "",
        f"a typed problem: {missing!r}",
    )
    print("scenario passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
