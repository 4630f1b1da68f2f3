"""Announcements over HTTP: permissions, paging, edits, and the live event on each change."""

import asyncio

import msgspec
import pytest
import redis.asyncio as aioredis

from tests.api.conftest import World, matrix_cases

ANNOUNCEMENTS = "/api/v1/announcements/"


@pytest.fixture
def announcement(client, world: World) -> str:
    response = client.post(
        ANNOUNCEMENTS,
        json={"title": "Welcome", "content": "Read chapter 1", "course_id": world.course_id},
        headers=world.sessions["ta"].headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


MATRIX = {
    "create": (
        "POST",
        "",
        {"title": "T", "content": "C", "course_id": "{c}"},
        (401, 404, 403, 201, 201, 201, 404, 404, 201, 201),
    ),
    "list": ("GET", "?course_id={c}", None, (401, 404, 200, 200, 200, 200, 404, 404, 200, 200)),
    "edit": (
        "PUT",
        "{a}",
        {"title": "Changed"},
        (401, 404, 403, 200, 200, 200, 404, 404, 200, 200),
    ),
    "delete": ("DELETE", "{a}", None, (401, 404, 403, 204, 204, 204, 404, 404, 204, 204)),
}
CASES = matrix_cases({name: expected for name, (*_, expected) in MATRIX.items()})


def _fill(value, world: World, announcement_id: str):
    if isinstance(value, dict):
        return {key: _fill(item, world, announcement_id) for key, item in value.items()}
    if isinstance(value, str):
        return value.replace("{c}", world.course_id).replace("{a}", announcement_id)
    return value


@pytest.mark.parametrize(("endpoint", "caller", "status"), CASES)
def test_every_endpoint_by_every_caller(client, world, announcement, endpoint, caller, status):
    method, path, body, _ = MATRIX[endpoint]
    headers = {} if caller == "anonymous" else world.sessions[caller].headers
    response = client.request(
        method,
        ANNOUNCEMENTS + _fill(path, world, announcement),
        json=_fill(body, world, announcement),
        headers=headers,
    )
    assert response.status_code == status, response.text


def test_newest_first_paged_and_partial_edit(client, world):
    ta = world.sessions["ta"].headers
    ids = [
        client.post(
            ANNOUNCEMENTS,
            json={"title": f"N{n}", "content": "text", "course_id": world.course_id},
            headers=ta,
        ).json()["id"]
        for n in range(3)
    ]
    student = world.sessions["student"].headers
    listed = client.get(ANNOUNCEMENTS, params={"course_id": world.course_id}, headers=student)
    assert [a["id"] for a in listed.json()] == ids[::-1]
    assert listed.headers["x-total-count"] == "3"
    page = client.get(
        ANNOUNCEMENTS,
        params={"course_id": world.course_id, "limit": 1, "offset": 1},
        headers=student,
    )
    assert [a["id"] for a in page.json()] == [ids[1]]
    edited = client.put(f"{ANNOUNCEMENTS}{ids[0]}", json={"content": "new text"}, headers=ta).json()
    assert (edited["title"], edited["content"]) == ("N0", "new text")
    assert edited["author_id"] == str(world.sessions["ta"].user.id)
    for bad in ({"title": "  "}, {"content": ""}, {"title": 5}):
        assert client.put(f"{ANNOUNCEMENTS}{ids[0]}", json=bad, headers=ta).status_code == 422


def test_unknown_and_foreign_announcements_look_the_same(client, world, announcement):
    outsider = world.sessions["other_teacher"].headers
    foreign = client.put(f"{ANNOUNCEMENTS}{announcement}", json={"title": "x"}, headers=outsider)
    missing = client.put(
        f"{ANNOUNCEMENTS}0190c2a4-0000-7000-8000-000000000000",
        json={"title": "x"},
        headers=outsider,
    )
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"] == missing.json()["detail"]


def test_each_change_is_published_to_the_course_channel(client, world, redis_url):
    ta = world.sessions["ta"].headers
    channel = f"coagent:course:{world.course_id}"

    async def listen(ready: asyncio.Event, received: list):
        subscriber = aioredis.Redis.from_url(redis_url)
        pubsub = subscriber.pubsub()
        await pubsub.subscribe(channel)
        ready.set()
        deadline = asyncio.get_running_loop().time() + 15
        try:
            while len(received) < 3 and asyncio.get_running_loop().time() < deadline:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:  # None: a confirmation, or nothing yet
                    received.append(msgspec.json.decode(message["data"]))
        finally:
            await pubsub.aclose()
            await subscriber.aclose()

    async def scenario() -> list:
        received: list = []
        ready = asyncio.Event()
        listener = asyncio.create_task(listen(ready, received))
        await ready.wait()
        loop = asyncio.get_running_loop()

        def changes() -> None:
            created = client.post(
                ANNOUNCEMENTS,
                json={"title": "Live", "content": "now", "course_id": world.course_id},
                headers=ta,
            ).json()
            client.put(f"{ANNOUNCEMENTS}{created['id']}", json={"title": "Live!"}, headers=ta)
            client.delete(f"{ANNOUNCEMENTS}{created['id']}", headers=ta)

        await loop.run_in_executor(None, changes)
        await asyncio.wait_for(listener, timeout=15)
        return received

    events = asyncio.run(scenario())
    assert [e["type"] for e in events] == [
        "announcement.created",
        "announcement.updated",
        "announcement.deleted",
    ]
    assert events[1]["title"] == "Live!"
    assert {e["course_id"] for e in events} == {world.course_id}
