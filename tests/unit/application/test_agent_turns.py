"""The agent turn use cases on fakes: deciding on a human message, running a room's queue
with a scripted streaming provider, the limits, failures, recovery, time triggers and the
staff endpoints' use cases.
"""

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from coagent.application.chat.post_message import PostMessage, PostMessageCommand
from coagent.application.limits import Rate
from coagent.application.llm.call_model import CallModel, RetryPolicy
from coagent.application.ports.agent_events import AgentError, AgentTurnTrace
from coagent.application.ports.chat import NewMessage
from coagent.application.ports.llm import Completion, ProviderUnavailable, TextDelta, Usage
from coagent.application.turns.common import TurnLimits, roll_for
from coagent.application.turns.consider_message import ConsiderMessage, ConsiderMessageCommand
from coagent.application.turns.list_turns import ListTurns, ListTurnsCommand
from coagent.application.turns.reclaim_turns import ReclaimTurns, ReclaimTurnsCommand
from coagent.application.turns.request_turn import RequestTurn, RequestTurnCommand
from coagent.application.turns.run_turns import RunTurns, RunTurnsCommand
from coagent.application.turns.tick_time_triggers import (
    TickTimeTriggers,
    TickTimeTriggersCommand,
)
from coagent.domain.accounts.roles import Role
from coagent.domain.accounts.user import User
from coagent.domain.agents.config import AgentConfig, AgentType, Provider
from coagent.domain.agents.decision import TurnKind
from coagent.domain.agents.trigger import Trigger, TriggerType
from coagent.domain.agents.turn import AgentTurn, TurnStatus
from coagent.domain.courses.course import Course
from coagent.domain.courses.policy import CourseRole
from coagent.domain.courses.room import AiMode, Room
from coagent.domain.errors import Conflict, Forbidden, NotFound
from tests.fakes.chat import RecordingChatPublisher
from tests.fakes.clock import FakeIdGenerator, FixedClock
from tests.fakes.factories import UserFactory
from tests.fakes.limits import FakeRateLimiter
from tests.fakes.llm import ScriptedLLM, ScriptedProviders
from tests.fakes.repositories import InMemoryUnitOfWorkFactory
from tests.fakes.security import FakeSecretBox
from tests.fakes.turns import RecordingAgentStream, RecordingKicker

pytestmark = pytest.mark.anyio


def streamed(*pieces: str, usage: Usage | None = None) -> list[Any]:
    text = "".join(pieces)
    return [
        *(TextDelta(text=piece) for piece in pieces),
        Completion(
            text=text,
            tool_calls=(),
            finish_reason="stop",
            usage=usage or Usage(input_tokens=11, output_tokens=3),
            provider="openai",
            model="scripted-model",
        ),
    ]


class Limiter:
    """A RateLimiter counting hits per key, refusing past `limit` in any window."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}

    async def hit(self, key: str, *, limit: int, window_seconds: float) -> float:
        if self.hits.get(key, 0) >= limit:
            return 12.0
        self.hits[key] = self.hits.get(key, 0) + 1
        return 0.0


@dataclass
class World:
    uow: InMemoryUnitOfWorkFactory
    clock: FixedClock
    ids: FakeIdGenerator
    llm: ScriptedLLM
    stream: RecordingAgentStream
    kicker: RecordingKicker
    publisher: RecordingChatPublisher
    limiter: Limiter
    room: Room
    config: AgentConfig
    ana: User
    ta: User
    outsider: User

    def consider(self, **limits: Any) -> ConsiderMessage:
        return ConsiderMessage(
            uow=self.uow,
            clock=self.clock,
            ids=self.ids,
            kicker=self.kicker,
            stream=self.stream,
            limiter=self.limiter,
            limits=TurnLimits(**limits),
        )

    def runner(self, lease_seconds: float = 15) -> RunTurns:
        return RunTurns(
            uow=self.uow,
            clock=self.clock,
            ids=self.ids,
            call_model=CallModel(
                providers=ScriptedProviders(self.llm),
                secrets=FakeSecretBox(["k"]),
                policy=RetryPolicy(max_retries=0),
                jitter=lambda: 0.0,
            ),
            stream=self.stream,
            publisher=self.publisher,
            lease_seconds=lease_seconds,
            llm_timeout=5,
        )

    async def post(self, content: str, *, by: User | None = None) -> int:
        self.clock.advance(seconds=1)
        async with self.uow() as uow:
            seq = await uow.messages.append(
                NewMessage(
                    id=self.ids.new_id(),
                    room_id=self.room.id,
                    content=content,
                    created_at=self.clock.now(),
                    sender_id=(by or self.ana).id,
                )
            )
            await uow.commit()
        return seq

    async def say(self, content: str, **limits: Any) -> Any:
        seq = await self.post(content)
        return await self.consider(**limits).execute(
            ConsiderMessageCommand(room_id=self.room.id, seq=seq)
        )

    async def set_room(self, **changes: Any) -> None:
        self.room = replace(self.room, **changes)
        async with self.uow() as uow:
            await uow.rooms.update(self.room)
            await uow.commit()

    def turns(self) -> list[AgentTurn]:
        return sorted(self.uow.store.agent_turns.values(), key=lambda t: (t.created_at, t.id))

    def agent_messages(self) -> list[Any]:
        return [m for m in self.uow.store.messages.values() if m.agent_type]


async def make_world(trigger: Trigger | None = None) -> World:
    uow = InMemoryUnitOfWorkFactory()
    clock, ids = FixedClock(), FakeIdGenerator()
    now = clock.now()
    owner = UserFactory.build(role=Role.TEACHER, full_name="Olga")
    ana = UserFactory.build(role=Role.STUDENT, full_name="Ana")
    ta = UserFactory.build(role=Role.STUDENT, full_name="Tom")
    outsider = UserFactory.build(role=Role.STUDENT, full_name="Out")
    course = Course(
        id=ids.new_id(),
        title="Ethics",
        description=None,
        owner_id=owner.id,
        created_at=now,
        updated_at=now,
    )
    room = Room(
        id=ids.new_id(),
        course_id=course.id,
        name="Debate",
        description="About AI",
        ai_mode=AiMode.TEACHER_ONLY,
        ai_frequency=0.0,
        is_ai_active=True,
        is_analytics_active=False,
        created_at=now,
        updated_at=now,
    )
    config = AgentConfig(
        id=ids.new_id(),
        course_id=course.id,
        type=AgentType.TEACHER,
        name="Prof Bot",
        provider=Provider.OPENAI,
        model="scripted-model",
        base_url="http://llm.local/v1",
        system_prompt="You teach.",
        context_window=5,
        trigger=trigger or Trigger(type=TriggerType.MENTION),
        schedule=None,
        settings={},
        is_active=True,
        created_by=owner.id,
        created_at=now,
        updated_at=now,
    )
    async with uow() as unit:
        for user in (owner, ana, ta, outsider):
            await unit.users.add(user)
        await unit.courses.add(course)
        await unit.courses.add_member(course.id, owner.id, CourseRole.TEACHER)
        await unit.courses.add_member(course.id, ana.id, CourseRole.STUDENT)
        await unit.courses.add_member(course.id, ta.id, CourseRole.TA)
        await unit.rooms.add(room)
        await unit.agent_configs.add(config)
        await unit.commit()
    return World(
        uow=uow,
        clock=clock,
        ids=ids,
        llm=ScriptedLLM(),
        stream=RecordingAgentStream(),
        kicker=RecordingKicker(),
        publisher=RecordingChatPublisher(),
        limiter=Limiter(),
        room=room,
        config=config,
        ana=ana,
        ta=ta,
        outsider=outsider,
    )


# --- deciding ------------------------------------------------------------------------


async def test_a_mention_queues_one_turn_and_kicks_the_room_runner() -> None:
    world = await make_world()
    considered = await world.say("@teacher what is utilitarianism?")
    [turn] = world.turns()
    assert considered.turn_id == turn.id
    assert (turn.kind, turn.status, turn.trigger_key) == (
        TurnKind.MENTION,
        TurnStatus.QUEUED,
        "msg:1",
    )
    assert turn.reason == "mentioned by Ana"
    assert (turn.config_id, turn.config_revision, turn.caused_by_seq) == (world.config.id, 1, 1)
    assert world.kicker.runs == [world.room.id]


async def test_a_duplicated_or_retried_job_adds_no_second_turn() -> None:
    world = await make_world()
    seq = await world.post("@teacher hello")
    command = ConsiderMessageCommand(room_id=world.room.id, seq=seq)
    first = await world.consider().execute(command)
    again = await world.consider().execute(command)
    assert first.turn_id is not None
    assert again.turn_id is None  # found, not added
    assert len(world.turns()) == 1
    assert world.kicker.runs == [world.room.id, world.room.id]  # a lost kick is re-sent


async def test_with_a_runner_the_consider_job_runs_the_turn_itself_and_kicks_nothing() -> None:
    world = await make_world()
    world.llm.then(streamed("Hello."))
    seq = await world.post("@teacher hello")
    consider = ConsiderMessage(
        uow=world.uow,
        clock=world.clock,
        ids=world.ids,
        kicker=world.kicker,
        stream=world.stream,
        limiter=world.limiter,
        limits=TurnLimits(),
        runner=world.runner(),
    )
    command = ConsiderMessageCommand(room_id=world.room.id, seq=seq)
    considered = await consider.execute(command)
    [turn] = world.turns()
    assert considered.turn_id == turn.id
    assert turn.status is TurnStatus.SUCCEEDED
    assert [m.content for m in world.agent_messages()] == ["Hello."]
    assert world.kicker.runs == []  # no second task
    # A duplicated job runs the room again and finds nothing to do: still one reply.
    again = await consider.execute(command)
    assert again.turn_id is None
    assert len(world.llm.requests) == 1
    assert len(world.agent_messages()) == 1
    assert world.uow.store.room_leases == {}


async def test_with_a_runner_a_room_held_elsewhere_is_left_to_its_holder() -> None:
    world = await make_world()
    async with world.uow() as uow:
        now = world.clock.now()
        await uow.turns.take_room(
            world.room.id, world.ids.new_id(), now=now, expires_at=now + timedelta(seconds=15)
        )
        await uow.commit()
    seq = await world.post("@teacher hi")
    consider = ConsiderMessage(
        uow=world.uow,
        clock=world.clock,
        ids=world.ids,
        kicker=world.kicker,
        stream=world.stream,
        limiter=world.limiter,
        limits=TurnLimits(),
        runner=world.runner(),
    )
    await consider.execute(ConsiderMessageCommand(room_id=world.room.id, seq=seq))
    [turn] = world.turns()
    assert turn.status is TurnStatus.QUEUED  # the holder runs it
    assert world.llm.requests == []


@pytest.mark.parametrize("changes", [{"ai_mode": AiMode.OFF}, {"is_ai_active": False}])
async def test_no_turn_when_the_rooms_ai_is_off_or_paused(changes: dict[str, Any]) -> None:
    world = await make_world()
    await world.set_room(**changes)
    considered = await world.say("@teacher anyone?")
    assert considered.turn_id is None
    assert world.turns() == []
    assert world.kicker.runs == []


async def test_message_count_speaks_on_every_nth_human_message() -> None:
    world = await make_world(Trigger(type=TriggerType.MESSAGE_COUNT, value=3))
    results = [await world.say(f"message {n}") for n in range(1, 4)]
    assert [r.turn_id is not None for r in results] == [False, False, True]
    [turn] = world.turns()
    assert turn.kind is TurnKind.MESSAGE_COUNT
    assert turn.caused_by_seq == 3


async def test_probability_rolls_once_per_message_and_the_same_on_a_retry() -> None:
    world = await make_world(Trigger(type=TriggerType.PROBABILITY, value=0.5))
    message_id, config_id = world.ids.new_id(), world.config.id
    assert roll_for(message_id, config_id) == roll_for(message_id, config_id)
    rolls = [roll_for(world.ids.new_id(), config_id) for _ in range(200)]
    assert all(0.0 <= roll < 1.0 for roll in rolls)
    assert 60 < sum(roll < 0.5 for roll in rolls) < 140  # spread, not constant
    seq = await world.post("just chatting")
    command = ConsiderMessageCommand(room_id=world.room.id, seq=seq)
    decisions = {(await world.consider().execute(command)).status for _ in range(3)}
    assert len(decisions) == 1  # every retry decides the same


async def test_mentions_past_the_per_user_limit_get_an_error_and_no_turn() -> None:
    world = await make_world()
    await world.say("@teacher one", mentions_per_user=1)
    limited = await world.say("@teacher two", mentions_per_user=1)
    assert limited.turn_id is None
    assert len(world.turns()) == 1
    [notice] = world.stream.named("notify_user")
    assert notice["user_id"] == world.ana.id
    assert notice["code"] == "agent_rate_limited"


async def test_turns_past_the_room_limit_are_recorded_skipped_and_traced() -> None:
    world = await make_world()
    await world.say("@teacher one", turns_per_minute=1)
    skipped = await world.say("@teacher two", turns_per_minute=1)
    assert skipped.status is TurnStatus.SKIPPED
    first, second = world.turns()
    assert (first.status, second.status) == (TurnStatus.QUEUED, TurnStatus.SKIPPED)
    assert "limit of 1 turns per minute" in second.reason
    assert world.kicker.runs == [world.room.id]  # nothing kicked for the skipped one
    turn_trace, trace = world.stream.named("trace")
    assert isinstance(turn_trace["event"], AgentTurnTrace)
    assert (turn_trace["event"].status, turn_trace["event"].turn_id) == ("skipped", second.id)
    assert isinstance(trace["event"], AgentError)
    assert trace["event"].turn_id == second.id
    # A minute later the room may speak again.
    world.clock.advance(minutes=1)
    assert (await world.say("@teacher three", turns_per_minute=1)).status is TurnStatus.QUEUED


# --- running --------------------------------------------------------------------------


async def test_a_turn_streams_then_stores_and_publishes_one_linked_reply() -> None:
    world = await make_world()
    world.llm.then(streamed("Utilitarianism ", "weighs outcomes."))
    await world.say("@teacher what is utilitarianism?")
    ran = await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    assert ran.ran == 1
    [turn] = world.turns()
    [message] = world.agent_messages()
    assert turn.status is TurnStatus.SUCCEEDED
    assert (turn.tokens_in, turn.tokens_out, turn.model) == (11, 3, "scripted-model")
    assert turn.seen_up_to_seq == 1
    assert (message.seq, message.turn_id, message.agent_type) == (2, turn.id, "teacher")
    assert message.content == "Utilitarianism weighs outcomes."
    deltas = world.stream.named("delta")
    assert [d["text"] for d in deltas] == ["Utilitarianism ", "weighs outcomes."]
    assert {d["message_id"] for d in deltas} == {message.id}
    # The staff trace of the start, then the stream.
    assert [name for name, _ in world.stream.calls] == ["trace", "delta", "delta", "end"]
    assert world.stream.named("trace")[0]["event"].status == "started"
    [published] = world.publisher.messages
    assert (published.id, published.seq, published.turn_id) == (message.id, 2, turn.id)
    assert published.agent_type == "teacher"
    # The prompt had the system part and the conversation with the speaker's name.
    [request] = world.llm.requests
    assert request.messages[0].role == "system"
    assert "Ana" in request.messages[-1].content
    # Nothing is left queued, and the room's lease is free again.
    assert world.uow.store.room_leases == {}


async def test_a_provider_failure_mid_stream_withdraws_the_reply_and_stores_nothing() -> None:
    world = await make_world()
    world.llm.then([TextDelta(text="Half a "), ProviderUnavailable("upstream 500")])
    await world.say("@teacher explain")
    await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    [turn] = world.turns()
    assert (turn.status, turn.error_code) == (TurnStatus.FAILED, "provider_unavailable")
    assert world.agent_messages() == []
    assert world.publisher.messages == []
    names = [name for name, _ in world.stream.calls]
    assert names == ["trace", "delta", "end", "aborted", "trace", "trace"]  # started ... failed
    trace = world.stream.named("trace")[1]["event"]
    assert (trace.code, trace.turn_id) == ("provider_unavailable", turn.id)
    assert "upstream" not in trace.detail  # never the provider's text


async def test_a_failure_before_any_text_sends_no_withdrawal() -> None:
    world = await make_world()
    world.llm.then(ProviderUnavailable("down"))
    await world.say("@teacher explain")
    await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    assert world.turns()[0].error_code == "provider_unavailable"
    assert [name for name, _ in world.stream.calls] == ["trace", "end", "trace", "trace"]


async def test_an_empty_reply_fails_the_turn() -> None:
    world = await make_world()
    world.llm.then(streamed("  "))
    await world.say("@teacher ?")
    await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    assert world.turns()[0].error_code == "empty_reply"
    assert world.agent_messages() == []


async def test_messages_that_arrived_before_a_turn_starts_are_merged_into_it() -> None:
    world = await make_world()
    await world.say("@teacher first question")
    await world.say("@teacher and a second one")
    world.llm.then(streamed("Both answered."))
    ran = await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    first, second = world.turns()
    assert ran.ran == 1
    assert first.status is TurnStatus.SUCCEEDED
    assert first.seen_up_to_seq == 2
    assert (second.status, second.merged_into) == (TurnStatus.MERGED, first.id)
    assert len(world.agent_messages()) == 1
    assert len(world.llm.requests) == 1


async def test_a_room_held_by_another_runner_is_left_alone() -> None:
    world = await make_world()
    await world.say("@teacher hi")
    async with world.uow() as uow:
        now = world.clock.now()
        await uow.turns.take_room(
            world.room.id, world.ids.new_id(), now=now, expires_at=now + timedelta(seconds=15)
        )
        await uow.commit()
    ran = await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    assert (ran.held, ran.ran) == (True, 0)
    assert world.llm.requests == []
    assert world.turns()[0].status is TurnStatus.QUEUED


async def test_turns_of_a_room_run_one_after_another_in_order() -> None:
    world = await make_world(Trigger(type=TriggerType.MESSAGE_COUNT, value=1))
    world.llm.then(streamed("One."), streamed("Two."))
    await world.say("first")
    await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    await world.say("second")
    await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    contents = [m.content for m in sorted(world.agent_messages(), key=lambda m: m.seq)]
    assert contents == ["One.", "Two."]
    assert [m.seq for m in sorted(world.agent_messages(), key=lambda m: m.seq)] == [2, 4]


# --- recovery -------------------------------------------------------------------------


async def _stall(world: World) -> AgentTurn:
    """A turn a (dead) runner started: running under a lease that then expired."""
    await world.say("@teacher hi")
    [turn] = world.turns()
    now = world.clock.now()
    async with world.uow() as uow:
        await uow.turns.start(
            turn.id,
            lease_token=world.ids.new_id(),
            now=now,
            lease_expires_at=now + timedelta(seconds=15),
            seen_up_to_seq=1,
        )
        await uow.commit()
    world.clock.advance(seconds=16)
    return turn


async def test_reclaim_requeues_a_stalled_turn_and_kicks_its_room() -> None:
    world = await make_world()
    turn = await _stall(world)
    world.kicker.runs.clear()
    reclaim = ReclaimTurns(
        uow=world.uow, clock=world.clock, kicker=world.kicker, stream=world.stream
    )
    done = await reclaim.execute(ReclaimTurnsCommand())
    assert (done.requeued, done.abandoned, done.kicked) == (1, 0, 1)
    assert world.kicker.runs == [world.room.id]
    world.llm.then(streamed("Back."))
    await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    [stored] = world.turns()
    assert (stored.id, stored.status, stored.attempts) == (turn.id, TurnStatus.SUCCEEDED, 2)
    assert len(world.agent_messages()) == 1


async def test_a_turn_started_three_times_is_abandoned() -> None:
    world = await make_world()
    turn = await _stall(world)
    world.uow.store.agent_turns[turn.id] = replace(world.uow.store.agent_turns[turn.id], attempts=3)
    reclaim = ReclaimTurns(
        uow=world.uow, clock=world.clock, kicker=world.kicker, stream=world.stream
    )
    done = await reclaim.execute(ReclaimTurnsCommand())
    assert done.abandoned == 1
    assert world.turns()[0].error_code == "abandoned"
    assert world.stream.named("trace")[0]["event"].code == "abandoned"


# --- time triggers --------------------------------------------------------------------


async def test_silence_queues_one_turn_however_often_the_scheduler_ticks() -> None:
    world = await make_world(Trigger(type=TriggerType.SILENCE, value=60))
    tick = TickTimeTriggers(
        uow=world.uow,
        clock=world.clock,
        ids=world.ids,
        kicker=world.kicker,
        stream=world.stream,
        limits=TurnLimits(),
    )
    await world.post("is anyone there?")
    assert (await tick.execute(TickTimeTriggersCommand())).queued == 0
    world.clock.advance(seconds=61)
    assert (await tick.execute(TickTimeTriggersCommand())).queued == 1
    world.clock.advance(seconds=1)
    assert (await tick.execute(TickTimeTriggersCommand())).queued == 0
    [turn] = world.turns()
    assert turn.kind is TurnKind.SILENCE
    assert turn.trigger_key.startswith("silence:")
    assert world.kicker.runs == [world.room.id]


# --- staff requests and the list ------------------------------------------------------


def _request(world: World) -> RequestTurn:
    return RequestTurn(
        uow=world.uow,
        clock=world.clock,
        ids=world.ids,
        kicker=world.kicker,
        stream=world.stream,
        limits=TurnLimits(),
    )


async def test_staff_request_a_turn_students_may_not_outsiders_do_not_see_it() -> None:
    world = await make_world()
    turn = await _request(world).execute(
        RequestTurnCommand(actor_id=world.ta.id, room_id=world.room.id)
    )
    assert (turn.kind, turn.status, turn.reason) == (
        TurnKind.REQUEST,
        TurnStatus.QUEUED,
        "requested by Tom",
    )
    assert world.kicker.runs == [world.room.id]
    with pytest.raises(Forbidden):
        await _request(world).execute(
            RequestTurnCommand(actor_id=world.ana.id, room_id=world.room.id)
        )
    with pytest.raises(NotFound):
        await _request(world).execute(
            RequestTurnCommand(actor_id=world.outsider.id, room_id=world.room.id)
        )
    listed = await ListTurns(uow=world.uow).execute(
        ListTurnsCommand(actor_id=world.ta.id, room_id=world.room.id)
    )
    assert [t.id for t in listed.items] == [turn.id]
    with pytest.raises(Forbidden):
        await ListTurns(uow=world.uow).execute(
            ListTurnsCommand(actor_id=world.ana.id, room_id=world.room.id)
        )


async def test_a_request_in_a_room_whose_ai_is_off_is_a_conflict() -> None:
    world = await make_world()
    await world.set_room(ai_mode=AiMode.OFF)
    with pytest.raises(Conflict):
        await _request(world).execute(
            RequestTurnCommand(actor_id=world.ta.id, room_id=world.room.id)
        )
    assert world.turns() == []


# --- the send path --------------------------------------------------------------------


async def test_a_sent_message_is_handed_to_the_agents_once() -> None:
    world = await make_world()
    post = PostMessage(
        uow=world.uow,
        publisher=world.publisher,
        clock=world.clock,
        ids=world.ids,
        max_length=100,
        limiter=FakeRateLimiter(),
        rate=Rate(100, 10),
        agents=world.kicker,
    )
    command = PostMessageCommand(
        actor_id=world.ana.id, room_id=world.room.id, content="hi", client_msg_id="c1"
    )
    posted = await post.execute(command)
    await post.execute(command)  # a resend: nothing new, nothing considered
    assert world.kicker.considered == [(world.room.id, posted.message.seq)]


async def test_message_count_decided_late_or_out_of_order_still_speaks_once_per_n() -> None:
    world = await make_world(Trigger(type=TriggerType.MESSAGE_COUNT, value=3))
    seqs = [await world.post(f"point {n}") for n in range(1, 5)]

    async def consider(seq: int) -> Any:
        return await world.consider().execute(
            ConsiderMessageCommand(room_id=world.room.id, seq=seq)
        )

    # Jobs run in any order on concurrent workers; all four messages are stored already.
    results = {seq: await consider(seq) for seq in (seqs[3], seqs[2], seqs[0], seqs[1])}
    spoke = sorted(seq for seq, result in results.items() if result.turn_id is not None)
    # msg 4 was decided first (4 since the agent never spoke) and msg 3 (3 of 3): two turns,
    # and the runner merges the second into the first, so one reply.
    assert spoke == [3, 4]
    world.llm.then(streamed("Summing up."))
    await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    assert sorted(t.status.value for t in world.turns()) == ["merged", "succeeded"]
    assert len(world.agent_messages()) == 1
    # The next message counts from the agent's reply.
    fifth = await world.post("point 5")
    assert (await consider(fifth)).turn_id is None


class HookedLLM(ScriptedLLM):
    """Runs `hook` once, right after the first streamed event (a message arriving while the
    agent composes).
    """

    hook: Any = None

    async def stream(self, request: Any) -> Any:
        async for event in super().stream(request):
            yield event
            if self.hook is not None:
                hook, self.hook = self.hook, None
                await hook()


async def test_a_message_arriving_mid_reply_is_answered_by_the_next_turn_not_this_one() -> None:
    world = await make_world(Trigger(type=TriggerType.MESSAGE_COUNT, value=1))
    world.llm = HookedLLM()
    world.llm.then(streamed("On the first."), streamed("On the second."))
    await world.say("first")

    async def arrives() -> None:
        await world.say("second")

    world.llm.hook = arrives
    ran = await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    assert ran.ran == 2
    first, second = world.turns()
    assert (first.seen_up_to_seq, second.caused_by_seq) == (1, 2)
    assert second.status is TurnStatus.SUCCEEDED  # not merged: the first never saw it
    prompts = ["\n".join(m.content for m in r.messages[1:]) for r in world.llm.requests]
    assert "second" not in prompts[0]
    assert "second" in prompts[1]
    assert "On the first." in prompts[1]  # the next turn sees the reply before it
    contents = [m.content for m in sorted(world.agent_messages(), key=lambda m: m.seq)]
    assert contents == ["On the first.", "On the second."]


async def test_a_queued_turn_is_skipped_when_the_rooms_ai_is_turned_off_before_it_runs() -> None:
    world = await make_world()
    await world.say("@teacher one")
    await world.say("@teacher two")
    await world.set_room(is_ai_active=False)
    ran = await world.runner().execute(RunTurnsCommand(room_id=world.room.id))
    assert ran.ran == 0
    assert [t.status for t in world.turns()] == [TurnStatus.SKIPPED, TurnStatus.SKIPPED]
    assert "AI was turned off" in world.turns()[0].reason
    assert world.llm.requests == []
    assert world.agent_messages() == []
    assert world.uow.store.room_leases == {}
