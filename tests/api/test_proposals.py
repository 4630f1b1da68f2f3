"""Peer-agent proposals over HTTP and WebSocket: every endpoint by every caller, 409s, the
approve race, edit-then-approve, expiry, approval modes, `ai_mode` both vs teacher_only, and
a student socket that receives no proposal, decision or trace frame.

The agent use cases run on the app's own loop (no worker in these tests): the message is
posted over HTTP, then `consider` and `run` are executed as the worker would.
"""

import asyncio
import json
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from coagent.application.proposals.agent_decide import AgentDecideProposalCommand
from coagent.application.proposals.expire_proposals import ExpireProposalsCommand
from coagent.application.turns.consider_message import ConsiderMessageCommand
from coagent.application.turns.run_turns import RunTurnsCommand
from tests.api.chat_helpers import ROOMS, connect, create_room, next_event, post
from tests.api.conftest import World, container_of, matrix_cases, run

AGENTS = "/api/v1/agents/"
PROPOSALS = "/api/v1/proposals/"


def _config(client, world: World, agent_type: str, trigger: dict[str, Any]) -> None:
    body = {
        "type": agent_type,
        "name": f"{agent_type} bot",
        "system_prompt": "You take part.",
        "model_provider": "offline",
        "trigger_config": trigger,
    }
    response = client.post(
        f"{AGENTS}{world.course_id}", json=body, headers=world.sessions["owner"].headers
    )
    assert response.status_code == 201, response.text


def _room(client, world: World, **fields: Any) -> str:
    _config(client, world, "teacher", {"type": "mention"})
    _config(client, world, "student", {"type": "mention"})
    return create_room(
        client, world.sessions["owner"], world.course_id, **{"ai_mode": "both", **fields}
    )


def _speak(client, world: World, room_id: str, content: str = "@peer what do you think?") -> int:
    """Post as the student, then decide and run the agents as a worker would."""
    response = post(client, world.sessions["student"], room_id, content)
    assert response.status_code == 201, response.text
    seq = response.json()["seq"]
    tasks = container_of(client).agents_runtime.tasks

    async def work() -> None:
        await tasks.consider_message.execute(ConsiderMessageCommand(room_id=UUID(room_id), seq=seq))
        await tasks.run_turns.execute(RunTurnsCommand(room_id=UUID(room_id)))

    run(client, work)
    return seq


def _proposals(client, world: World, room_id: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(
        f"{ROOMS}{room_id}/proposals{query}", headers=world.sessions["owner"].headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def _audit(client, world: World, action: str) -> list[dict[str, Any]]:
    response = client.get(
        f"/api/v1/admin/audit?action={action}", headers=world.sessions["admin"].headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def _messages(client, world: World, room_id: str) -> list[dict[str, Any]]:
    response = client.get(
        f"/api/v1/chat/messages/{room_id}", headers=world.sessions["owner"].headers
    )
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def human_room(client, world: World) -> str:
    return _room(client, world, approval_mode="human")


@pytest.fixture
def pending(client, world: World, human_room: str) -> str:
    _speak(client, world, human_room)
    [proposal] = _proposals(client, world, human_room)
    assert proposal["status"] == "pending"
    return str(proposal["id"])


READERS = (401, 404, 403, 200, 200, 200, 404, 404, 200, 200)
DECIDERS = READERS
MATRIX = {
    "list": ("GET", ROOMS + "{r}/proposals", READERS),
    "approve": ("POST", PROPOSALS + "{p}/approve", DECIDERS),
    "reject": ("POST", PROPOSALS + "{p}/reject", DECIDERS),
}


@pytest.mark.parametrize(
    ("endpoint", "caller", "status"), matrix_cases({k: v[2] for k, v in MATRIX.items()})
)
def test_every_proposal_endpoint_by_every_caller(
    client, world, human_room, pending, endpoint, caller, status
):
    method, path, _ = MATRIX[endpoint]
    headers = {} if caller == "anonymous" else world.sessions[caller].headers
    url = path.replace("{r}", human_room).replace("{p}", pending)
    response = client.request(method, url, headers=headers)
    assert response.status_code == status, response.text
    body = response.json()
    if status in (403, 404):
        # Refusals say nothing of the proposal (students never see its text or reason).
        assert "what do you think" not in response.text
        assert "offline" not in response.text
    if status == 200 and endpoint == "list":
        assert [p["id"] for p in body] == [pending]
        assert response.headers["X-Total-Count"] == "1"
    if status == 200 and endpoint != "list":
        assert body["status"] == ("approved" if endpoint == "approve" else "rejected")
        assert body["decided_by"] == str(world.sessions[caller].user.id)
        assert body["decided_by_agent"] is False


def test_an_unknown_proposal_is_404_for_staff_too(client, world, human_room):
    owner = world.sessions["owner"].headers
    missing = "00000000-0000-7000-8000-000000000000"
    for action in ("approve", "reject"):
        assert client.post(f"{PROPOSALS}{missing}/{action}", headers=owner).status_code == 404


def test_approve_posts_one_student_agent_message_then_every_decision_is_409(
    client, world, human_room, pending
):
    owner = world.sessions["owner"].headers
    before = _messages(client, world, human_room)
    assert [m["author"]["kind"] for m in before] == ["user"]  # the draft was not posted
    response = client.post(f"{PROPOSALS}{pending}/approve", headers=owner)
    assert response.status_code == 200, response.text
    approved = response.json()
    after = _messages(client, world, human_room)
    assert len(after) == 2
    message = after[-1]
    assert message["id"] == approved["message_id"]
    assert message["agent_type"] == "student"
    assert message["content"] == approved["content"]
    assert message["content"].startswith("[offline reply]")
    for action, body in (("approve", None), ("approve", {"content": "x"}), ("reject", None)):
        again = client.post(f"{PROPOSALS}{pending}/{action}", json=body, headers=owner)
        assert again.status_code == 409, again.text
        assert again.headers["content-type"].startswith("application/problem+json")
    assert len(_messages(client, world, human_room)) == 2
    [entry] = _audit(client, world, "agent_proposal.approved")
    assert (entry["target_id"], entry["actor_id"]) == (
        pending,
        str(world.sessions["owner"].user.id),
    )
    assert _audit(client, world, "agent_proposal.rejected") == []
    [turn] = [
        t
        for t in client.get(f"{ROOMS}{human_room}/agents/turns", headers=owner).json()
        if t["agent_type"] == "student"
    ]
    assert turn["message_id"] == message["id"]
    assert turn["status"] == "succeeded"


def test_edit_then_approve_posts_the_staff_text(client, world, human_room, pending):
    ta = world.sessions["ta"].headers
    response = client.post(
        f"{PROPOSALS}{pending}/approve", json={"content": "A better point."}, headers=ta
    )
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["content"]) == ("edited", "A better point.")
    assert _messages(client, world, human_room)[-1]["content"] == "A better point."


def test_reject_posts_nothing_and_keeps_the_reason_for_staff(client, world, human_room, pending):
    owner = world.sessions["owner"].headers
    response = client.post(
        f"{PROPOSALS}{pending}/reject", json={"reason": "gives the answer"}, headers=owner
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason"]) == (
        "rejected",
        "gives the answer",
    )
    assert [m["author"]["kind"] for m in _messages(client, world, human_room)] == ["user"]
    assert _proposals(client, world, human_room, "?status=rejected")[0]["id"] == pending
    assert _proposals(client, world, human_room, "?status=pending") == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("approve", {"content": ""}),
        ("approve", {"content": "   "}),
        ("approve", {"content": 3}),
        ("approve", {"text": "x"}),
        ("reject", {"reason": "x" * 501}),
        ("reject", {"why": "x"}),
    ],
)
def test_bad_decision_bodies_are_422_and_change_nothing(client, world, pending, path, body):
    owner = world.sessions["owner"].headers
    response = client.post(f"{PROPOSALS}{pending}/{path}", json=body, headers=owner)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.post(f"{PROPOSALS}{pending}/reject", headers=owner).status_code == 200


def test_two_staff_approving_at_once_give_one_message_and_one_409(
    client, world, human_room, pending
):
    decide = container_of(client).agents_runtime.proposals.decide
    from coagent.application.proposals.decide_proposal import DecideProposalCommand  # noqa: PLC0415

    async def both() -> list[Any]:
        return await asyncio.gather(
            *(
                decide.execute(
                    DecideProposalCommand(
                        actor_id=world.sessions[who].user.id,
                        proposal_id=UUID(pending),
                        approve=True,
                    )
                )
                for who in ("owner", "ta")
            ),
            return_exceptions=True,
        )

    results = run(client, both)
    conflicts = [r for r in results if isinstance(r, Exception)]
    assert len(conflicts) == 1
    assert type(conflicts[0]).__name__ == "Conflict"
    agents = [m for m in _messages(client, world, human_room) if m["author"]["kind"] == "agent"]
    assert len(agents) == 1


def test_an_expired_proposal_is_409_and_never_posted(client, world, human_room, pending):
    container = container_of(client)
    runtime = container.agents_runtime

    async def expire() -> int:
        clock = runtime.expire_proposals._clock
        later = clock.now() + timedelta(seconds=601)

        class Later:
            def now(self):  # type: ignore[no-untyped-def]
                return later

        runtime.expire_proposals._clock = Later()
        try:
            return await runtime.expire_proposals.execute(ExpireProposalsCommand())
        finally:
            runtime.expire_proposals._clock = clock

    assert run(client, expire) == 1
    owner = world.sessions["owner"].headers
    assert client.post(f"{PROPOSALS}{pending}/approve", headers=owner).status_code == 409
    [proposal] = _proposals(client, world, human_room)
    assert proposal["status"] == "expired"
    assert [m["author"]["kind"] for m in _messages(client, world, human_room)] == ["user"]
    assert [e["target_id"] for e in _audit(client, world, "agent_proposal.expired")] == [pending]


def test_teacher_only_rooms_never_hear_the_peer(client, world):
    room_id = _room(client, world, ai_mode="teacher_only", approval_mode="human")
    _speak(client, world, room_id)
    assert _proposals(client, world, room_id) == []
    turns = client.get(
        f"{ROOMS}{room_id}/agents/turns", headers=world.sessions["owner"].headers
    ).json()
    assert turns == []


def test_the_teacher_speaks_first_and_the_peer_only_when_it_does_not(client, world, human_room):
    _speak(client, world, human_room, "@teacher and @peer, what now?")
    owner = world.sessions["owner"].headers
    turns = client.get(f"{ROOMS}{human_room}/agents/turns", headers=owner).json()
    assert [t["agent_type"] for t in turns] == ["teacher"]
    assert _proposals(client, world, human_room) == []


def test_agent_mode_the_teacher_agent_approves_through_its_decision_tool(client, world):
    # The offline provider answers a `decide` tool call with its first enum value: approve.
    room_id = _room(client, world)  # approval_mode defaults to agent
    owner = world.sessions["owner"].headers
    assert client.get(f"{ROOMS}{room_id}", headers=owner).json()["approval_mode"] == "agent"
    _speak(client, world, room_id)
    [proposal] = _proposals(client, world, room_id)
    runtime = container_of(client).agents_runtime
    decide = runtime.tasks.decide_proposal
    assert decide is not None

    async def agent_decides() -> str:
        done = await decide.execute(AgentDecideProposalCommand(proposal_id=UUID(proposal["id"])))
        again = await decide.execute(AgentDecideProposalCommand(proposal_id=UUID(proposal["id"])))
        assert again.outcome == "skipped"  # a duplicate job does nothing
        return done.outcome

    assert run(client, agent_decides) == "approved"
    [decided] = _proposals(client, world, room_id)
    assert (decided["status"], decided["decided_by"], decided["decided_by_agent"]) == (
        "approved",
        None,
        True,
    )
    agents = [m for m in _messages(client, world, room_id) if m["author"]["kind"] == "agent"]
    assert [m["id"] for m in agents] == [decided["message_id"]]


def test_agent_then_human_the_screened_proposal_waits_for_staff(client, world):
    room_id = _room(client, world, approval_mode="agent_then_human")
    _speak(client, world, room_id)
    [proposal] = _proposals(client, world, room_id)
    decide = container_of(client).agents_runtime.tasks.decide_proposal
    assert decide is not None

    async def agent_decides() -> str:
        done = await decide.execute(AgentDecideProposalCommand(proposal_id=UUID(proposal["id"])))
        return done.outcome

    assert run(client, agent_decides) == "screened"
    [screened] = _proposals(client, world, room_id)
    assert (screened["status"], screened["screened_by_agent"]) == ("pending", True)
    assert [m["author"]["kind"] for m in _messages(client, world, room_id)] == ["user"]
    owner = world.sessions["owner"].headers
    assert client.post(f"{PROPOSALS}{proposal['id']}/approve", headers=owner).status_code == 200
    assert _messages(client, world, room_id)[-1]["agent_type"] == "student"


def test_room_approval_mode_is_validated_and_the_original_put_keeps_it(client, world):
    owner = world.sessions["owner"].headers
    room_id = _room(client, world, approval_mode="human")
    bad = client.put(f"{ROOMS}{room_id}", json={"approval_mode": "robots"}, headers=owner)
    assert bad.status_code == 422
    # The original client's PUT (no approval_mode) changes other fields and keeps it.
    response = client.put(
        f"{ROOMS}{room_id}", json={"name": "Renamed", "ai_frequency": 0.3}, headers=owner
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["approval_mode"]) == ("Renamed", "human")
    changed = client.put(
        f"{ROOMS}{room_id}", json={"approval_mode": "agent_then_human"}, headers=owner
    )
    assert changed.json()["approval_mode"] == "agent_then_human"


def _frames(ws) -> list[dict[str, Any]]:
    """Every frame the socket received until it is quiet for a moment."""
    frames = []
    while True:
        try:
            frame = ws.receive(timeout=0.5)
        except Exception:  # noqa: BLE001 - the queue is empty
            return frames
        if frame.get("type") == "websocket.close":
            return frames
        frames.append(json.loads(frame["text"]))


def test_a_student_socket_gets_no_proposal_decision_or_trace_frames(
    client: TestClient[Any], world, human_room
):
    student, owner = world.sessions["student"], world.sessions["owner"]
    with (
        connect(client, human_room, student) as student_ws,
        connect(client, human_room, owner) as staff_ws,
    ):
        _speak(client, world, human_room)
        staff_frames = []
        while not staff_frames or staff_frames[-1]["type"] != "agent.proposal":
            staff_frames.append(json.loads(staff_ws.receive_text(timeout=5)))
        proposal = staff_frames[-1]
        assert proposal["content"].startswith("[offline reply]")
        assert proposal["approval_mode"] == "human"
        [started] = [f for f in staff_frames if f["type"] == "agent.turn"]
        assert (started["agent_type"], started["status"]) == ("student", "started")
        assert "message.delta" not in {f["type"] for f in staff_frames}
        rejected = client.post(
            f"{PROPOSALS}{proposal['proposal_id']}/reject",
            json={"reason": "secret reason"},
            headers=owner.headers,
        )
        assert rejected.status_code == 200
        decision = next_event(staff_ws, "agent.decision")
        assert (decision["decision"], decision["reason"]) == ("reject", "secret reason")
        frames = _frames(student_ws)
    kinds = {frame["type"] for frame in frames}
    assert not {k for k in kinds if k.startswith("agent.")}, kinds
    assert "message.delta" not in kinds  # the draft is never streamed
    text = json.dumps(frames)
    assert "[offline reply]" not in text
    assert "secret reason" not in text
    assert proposal["proposal_id"] not in text


def _fire_at_once(client, requests: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    """The requests sent concurrently over HTTP to the running app (its own event loop and
    PostgreSQL pool): (path, session, body) each, all in flight together.
    """
    import httpx  # noqa: PLC0415 - only these tests talk to the app through ASGI directly

    world_sessions = requests

    async def fire() -> list[Any]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver.local"
        ) as http:
            return await asyncio.gather(
                *(
                    http.post(path, json=body, headers=headers)
                    for path, headers, body in world_sessions
                )
            )

    return run(client, fire)


def test_two_http_approvals_at_once_give_one_message_one_200_and_one_409(
    client, world, human_room, pending
):
    responses = _fire_at_once(
        client,
        [
            (f"{PROPOSALS}{pending}/approve", world.sessions["owner"].headers, {}),
            (f"{PROPOSALS}{pending}/approve", world.sessions["ta"].headers, {}),
        ],
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    [won] = [r for r in responses if r.status_code == 200]
    assert won.json()["status"] == "approved"
    agents = [m for m in _messages(client, world, human_room) if m["author"]["kind"] == "agent"]
    assert len(agents) == 1
    assert agents[0]["id"] == won.json()["message_id"]
    assert len(_audit(client, world, "agent_proposal.approved")) == 1


def test_an_http_approval_and_rejection_at_once_one_wins_and_the_other_is_409(
    client, world, human_room, pending
):
    responses = _fire_at_once(
        client,
        [
            (f"{PROPOSALS}{pending}/approve", world.sessions["owner"].headers, {}),
            (f"{PROPOSALS}{pending}/reject", world.sessions["ta"].headers, {"reason": "off topic"}),
        ],
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    approve, reject = responses
    agents = [m for m in _messages(client, world, human_room) if m["author"]["kind"] == "agent"]
    [proposal] = _proposals(client, world, human_room)
    if approve.status_code == 200:
        assert proposal["status"] == "approved"
        assert [m["id"] for m in agents] == [approve.json()["message_id"]]
    else:
        assert reject.status_code == 200
        assert proposal["status"] == "rejected"
        assert agents == []
