"""The room hub: this process's live sockets, fed from the bus in per-room seq order.

Guarantees, per room and socket: message events arrive in seq order, without gaps and
without duplicates, from the moment the socket joins (and from `since_seq` when it
resumes). How:
- the hub subscribes to a room's channel *before* reading its last seq from the database,
  so every later message reaches it through the bus;
- a message that arrives ahead of its turn waits briefly for the missing ones and then the
  gap is read from the database (messages are committed before they are published);
- every socket has a watermark, so a message that reached it in the resume backlog is not
  sent again live;
- after the bus reconnects, what was missed is read from the database and every socket
  gets `resync` (ephemeral events such as typing or announcements may have been lost).
A socket whose bounded queue is full is closed with `CLOSE_RESYNC`; it never slows others.

Each frame has an audience read from the bus envelope (never by parsing the frame per
socket): everyone, `coagent.v1` sockets, staff `coagent.v1` sockets, or one user's sockets.
The hub also remembers, per room, the text streamed so far of each agent turn in progress
(from the `message.delta` frames it relays), so a `coagent.v1` socket that joins or resumes
mid-stream first gets one catch-up delta with all of it, then the live ones. What it has not
relayed itself (the room was opened here after the turn began, or the bus dropped deltas) it
reads from the bus's stream log before the socket joins (`merge_stream`); a live delta the
socket's catch-up already covered is not sent to it again.
"""

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

import msgspec

from coagent.adapters.observability import metrics
from coagent.adapters.realtime.bus import BusUnavailable, LoggedStream, RoomBus
from coagent.adapters.realtime.events import (
    CLOSE_NOT_FOUND,
    CLOSE_RESYNC,
    CLOSE_UNAUTHENTICATED,
    EVERYONE,
    STAFF,
    STREAM_ABORTED,
    STREAM_DELTA,
    V1,
    MessageAborted,
    MessageDelta,
    ResyncEvent,
    course_event_from_json,
    course_frame,
    encode,
    error_frame,
    legacy_frame,
    message_frame,
    open_addressed,
)
from coagent.adapters.realtime.room_publisher import ROOM_PREFIX, BusRoomPublisher, room_channel
from coagent.application.ports.events import CourseEvent
from coagent.domain.chat.message import Message

logger = logging.getLogger("coagent.realtime")

COURSE_PREFIX = "coagent:course:"


class Subscriber(Protocol):
    """A live socket as the hub sees it."""

    user_id: UUID
    session_id: UUID
    # The highest seq this socket has been given; the hub owns it.
    seen: int
    # Speaks `coagent.v1` (else the original clients' dialect: messages and system lines).
    v1: bool
    # Course staff (TA and above): receives `agent.*` traces. Decided at join, re-checked
    # with access (`drop_unauthorized`).
    staff: bool

    def offer(self, frame: str) -> bool:
        """Queue a frame without waiting; False when the socket's queue is full."""
        ...

    def drop(self, code: int, reason: str) -> None:
        """Close the socket soon (never blocks the caller)."""
        ...


class MessageSource(Protocol):
    """Committed messages, read in short units of work (no authorization: sockets were
    authorized when they joined).
    """

    async def after(self, room_id: UUID, seq: int, limit: int) -> Sequence[Message]: ...

    async def last_seq(self, room_id: UUID) -> int: ...


# Who may no longer read a room (None), or whether they are course staff.
AccessCheck = Callable[[UUID, UUID], Awaitable[bool | None]]


class _TurnRef(msgspec.Struct):
    """What ends a stream: a stored message (`id`) or an abort (`message_id`) of a turn."""

    turn_id: UUID | None = None
    id: UUID | None = None
    message_id: UUID | None = None


_turn_of = msgspec.json.Decoder(_TurnRef)
_delta = msgspec.json.Decoder(MessageDelta)
_aborted = msgspec.json.Decoder(MessageAborted)


@dataclass(eq=False, slots=True)
class Stream:
    """The text of an agent turn's message streamed so far (frames `first_index`..`index`),
    as this hub relayed it or read it from the stream log.
    """

    message_id: UUID
    first_index: int
    index: int
    parts: list[str]
    updated: float
    # The highest index this hub relayed live (below `index` when the log was ahead).
    relayed: int = -1
    # Sockets whose catch-up went past `relayed`: the index it covered (live deltas up to
    # it are not sent to them again).
    caught: dict["Subscriber", int] = field(default_factory=dict)

    def catch_up(self, room_id: UUID, turn_id: UUID) -> str:
        text = "".join(self.parts)
        self.parts = [text]
        return encode(
            MessageDelta(
                room_id=room_id,
                turn_id=turn_id,
                message_id=self.message_id,
                index=self.index,
                first_index=self.first_index,
                text=text,
            )
        )


@dataclass(eq=False)
class _Room:
    id: UUID
    course_id: UUID
    ring: deque[tuple[int, str]]
    last_seq: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    sockets: set[Subscriber] = field(default_factory=set)
    pending: dict[int, str] = field(default_factory=dict)
    filling: asyncio.Task[None] | None = None
    closing: asyncio.TimerHandle | None = None
    # Agent turns streaming now, and the last streamed messages that ended (withdrawn or
    # stored, by message id) and turns that ended (stored): late deltas of them are ignored.
    streams: dict[UUID, Stream] = field(default_factory=dict)
    ended: OrderedDict[UUID, None] = field(default_factory=OrderedDict)
    # False until the stream log was read since the room opened (or the bus reconnected):
    # turns that began before may have deltas this hub never saw.
    streams_known: bool = False

    def backlog(self, since: int) -> list[tuple[int, str]] | None:
        """Messages after `since` from memory, or None when memory does not reach back."""
        if since >= self.last_seq:
            return []
        base = self.ring[0][0] - 1 if self.ring else self.last_seq
        if since < base:
            return None
        return [(seq, frame) for seq, frame in self.ring if seq > since]


class RoomHub:
    def __init__(
        self,
        *,
        bus: RoomBus,
        source: MessageSource,
        ring_size: int = 512,
        replay_limit: int = 1000,
        gap_wait: float = 0.25,
        linger: float = 30.0,
        stream_ttl: float = 120.0,
    ) -> None:
        self._bus = bus
        self._source = source
        self._ring_size = ring_size
        self._replay_limit = replay_limit
        self._gap_wait = gap_wait
        self._linger = linger
        self._stream_ttl = stream_ttl
        self._rooms: dict[UUID, _Room] = {}
        self._courses: dict[UUID, set[UUID]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._per_user: dict[UUID, int] = {}
        # What this hub publishes goes through here (as a worker's publishing does).
        self._out = BusRoomPublisher(bus=bus)

    # --- lifecycle

    def start(self) -> None:
        self._bus.start(self._on_bus, self._on_reconnect)

    async def close(self) -> None:
        self._closed = True
        await self._out.close()  # lets publishes already under way finish
        for room in list(self._rooms.values()):
            if room.filling is not None:
                room.filling.cancel()
            if room.closing is not None:
                room.closing.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._rooms.clear()
        await self._bus.close()

    # --- sockets

    async def join(
        self, room_id: UUID, course_id: UUID, socket: Subscriber, since: int | None
    ) -> list[str]:
        """Register `socket`; returns the frames to send it before anything else (a replay or
        a resync notice); after them it gets every message in order.
        """
        room = await self._open(room_id, course_id)
        frames: list[str] = []
        socket.seen = room.last_seq
        # The original clients cannot read `resync`: they page nothing and simply go on.
        if since is not None and since > room.last_seq:
            if socket.v1:
                frames.append(resync_frame(room, "since_seq is ahead of the room"))
        elif since is not None and since < room.last_seq:
            backlog = await self._backlog(room, since)
            if backlog is None:
                if socket.v1:
                    frames.append(resync_frame(room, "too far behind: page the history"))
            else:
                frames.extend(frame for _, frame in backlog)
                socket.seen = max([since, *(seq for seq, _ in backlog)])
        if socket.v1:
            await self._complete_streams(room)
        if room.closing is not None:
            room.closing.cancel()
            room.closing = None
        # From here to the end no await: the catch-up holds exactly the deltas known before
        # the socket is in the room, and it gets every later one live.
        room.sockets.add(socket)
        return frames + self._catch_up_frames(room, frames, socket) if socket.v1 else frames

    async def replay(self, room_id: UUID, socket: Subscriber, since: int) -> list[str]:
        """For a socket already live: the messages after `since` it was given before, then
        a catch-up of the agent streams in progress.
        """
        room = self._rooms.get(room_id)
        if room is None:
            return []
        backlog = await self._backlog(room, since) if since < socket.seen else []
        if backlog is None:
            return [resync_frame(room, "too far behind: page the history")] if socket.v1 else []
        frames = [frame for seq, frame in backlog if seq <= socket.seen]
        if not socket.v1:
            return frames
        await self._complete_streams(room)
        # After the last await: a catch-up delta replaces whatever the client holds of
        # the turn (`first_index` 0), so deltas it already had are not applied twice.
        return frames + self._catch_up_frames(room, frames, socket)

    def leave(self, room_id: UUID, socket: Subscriber) -> None:
        """Every reserved socket leaves exactly once (also after the hub dropped it, or when
        its join failed).
        """
        metrics.socket_closed()
        left = self._per_user.get(socket.user_id, 0) - 1
        if left > 0:
            self._per_user[socket.user_id] = left
        else:
            self._per_user.pop(socket.user_id, None)
        room = self._rooms.get(room_id)
        if room is None:
            return
        room.sockets.discard(socket)
        if not room.sockets and room.closing is None:
            # Keep the subscription and the ring a while: reconnects come in storms.
            room.closing = asyncio.get_running_loop().call_later(
                self._linger, lambda: self._spawn(self._close_room(room))
            )

    def connections_of(self, user_id: UUID) -> int:
        return self._per_user.get(user_id, 0)

    def reserve(self, user_id: UUID, limit: int) -> bool:
        """Count a socket of `user_id` about to join, unless it has `limit` already. Checked
        and counted at once, so simultaneous handshakes cannot both pass; `leave` gives the
        place back.
        """
        held = self._per_user.get(user_id, 0)
        if held >= limit:
            return False
        self._per_user[user_id] = held + 1
        metrics.socket_opened()
        return True

    async def drop_revoked(self, is_revoked: Callable[[UUID], Awaitable[bool]]) -> int:
        """Close every socket whose session has been revoked; returns how many."""
        verdicts: dict[UUID, bool] = {}
        dropped = 0
        for room in list(self._rooms.values()):
            for socket in list(room.sockets):
                if socket.session_id not in verdicts:
                    verdicts[socket.session_id] = await is_revoked(socket.session_id)
                if verdicts[socket.session_id]:
                    room.sockets.discard(socket)
                    socket.drop(CLOSE_UNAUTHENTICATED, "session revoked")
                    dropped += 1
        return dropped

    async def drop_unauthorized(self, access: AccessCheck) -> int:
        """Close the sockets of users who may no longer read their room (removed from the
        course, unassigned from a restricted room, deactivated); returns how many. The
        others' staff standing is brought up to date (a TA made a student stops receiving
        traces). `access(user_id, room_id)` is asked once per pair: None when the user may
        no longer read the room, else whether they are course staff.
        """
        dropped = 0
        gone = error_frame("not_found", "You no longer have access to this room")
        for room in list(self._rooms.values()):
            for user_id in {socket.user_id for socket in room.sockets}:
                staff = await access(user_id, room.id)
                sockets = [s for s in room.sockets if s.user_id == user_id]
                for socket in sockets:
                    if staff is not None:
                        socket.staff = staff
                        continue
                    room.sockets.discard(socket)
                    frame = gone if socket.v1 else legacy_frame(gone, room.id)
                    if frame is not None:
                        socket.offer(frame)
                    socket.drop(CLOSE_NOT_FOUND, "access to the room ended")
                    dropped += 1
        return dropped

    # --- publishing

    async def message_posted(self, message: Message) -> None:
        """The ChatPublisher port: PostMessage calls this after commit."""
        await self.publish_message(message)

    async def publish_message(self, message: Message) -> None:
        if self._closed:  # shutting down: sockets resume from the database later
            return
        frame = message_frame(message)
        if not await self._out.send_message(message, frame):
            # Committed already: serve our own sockets now.
            room = self._rooms.get(message.room_id)
            if room is not None and room.ready.is_set():
                self._accept(room, message.seq, frame)

    async def publish_event(
        self, room_id: UUID, frame: str, audience: str = V1, stream: str = ""
    ) -> None:
        """An event outside the message order (typing, presence, join/leave, deltas...),
        by default for `coagent.v1` sockets only. Works without `start()` (a worker process
        publishes for the web processes' sockets).
        """
        if self._closed:
            return
        if not await self._out.send_event(room_id, frame, audience, stream):
            room = self._rooms.get(room_id)
            if room is not None:
                self._deliver(room, frame, audience, stream)
        if stream == STREAM_ABORTED:
            await self.stream_ended(room_id, _aborted.decode(frame).turn_id)

    async def stream_ended(self, room_id: UUID, turn_id: UUID) -> None:
        """The agent turn's stream is over (its message is about to be stored, or it was
        withdrawn): drop it from the stream log.
        """
        await self._out.stream_ended(room_id, turn_id)

    def deliver_course_event(self, event: CourseEvent) -> None:
        """Course events (announcements) go to every socket in the course's rooms."""
        frame = course_frame(event)
        if frame is None:
            return
        for room_id in list(self._courses.get(event.course_id, ())):
            room = self._rooms.get(room_id)
            if room is not None:
                self._deliver(room, frame, V1)

    # --- internals

    async def _open(self, room_id: UUID, course_id: UUID) -> _Room:
        room = self._rooms.get(room_id)
        if room is None:
            room = _Room(id=room_id, course_id=course_id, ring=deque(maxlen=self._ring_size))
            self._rooms[room_id] = room
            try:
                # Subscribe first, then read: nothing committed in between can be missed.
                course_rooms = self._courses.setdefault(course_id, set())
                if not course_rooms:
                    await self._bus.subscribe(f"{COURSE_PREFIX}{course_id}")
                course_rooms.add(room_id)
                await self._bus.subscribe(room_channel(room_id))
                room.last_seq = await self._source.last_seq(room_id)
            except BaseException:
                self._forget(room)
                room.ready.set()
                raise
            room.ready.set()
            waiting, room.pending = room.pending, {}
            for seq in sorted(waiting):
                self._accept(room, seq, waiting[seq])
        else:
            await room.ready.wait()
            if self._rooms.get(room_id) is not room:  # its opening failed
                return await self._open(room_id, course_id)
        return room

    def _forget(self, room: _Room) -> None:
        self._rooms.pop(room.id, None)
        course_rooms = self._courses.get(room.course_id, set())
        course_rooms.discard(room.id)
        if not course_rooms:
            self._courses.pop(room.course_id, None)

    async def _close_room(self, room: _Room) -> None:
        room.closing = None
        if room.sockets or self._rooms.get(room.id) is not room:
            return
        self._forget(room)
        if room.filling is not None:
            room.filling.cancel()
        await self._bus.unsubscribe(room_channel(room.id))
        if room.course_id not in self._courses:
            await self._bus.unsubscribe(f"{COURSE_PREFIX}{room.course_id}")

    def _on_bus(self, channel: str, payload: bytes) -> None:
        try:
            if channel.startswith(ROOM_PREFIX):
                room = self._rooms.get(UUID(channel[len(ROOM_PREFIX) :]))
                if room is None:
                    return
                seq, audience, stream, frame = open_addressed(payload)
                if seq == 0:
                    self._deliver(room, frame, audience, stream)
                elif not room.ready.is_set():
                    room.pending[seq] = frame
                else:
                    self._accept(room, seq, frame)
            elif channel.startswith(COURSE_PREFIX):
                self.deliver_course_event(course_event_from_json(payload))
        except Exception:  # a bad payload must never stop the listener
            logger.exception("undeliverable bus payload", extra={"channel": channel})

    def _accept(self, room: _Room, seq: int, frame: str) -> None:
        if seq <= room.last_seq:
            return
        if seq > room.last_seq + 1:
            room.pending[seq] = frame
            if room.filling is None:
                room.filling = self._spawn(self._fill_gap(room))
            return
        self._emit(room, seq, frame)
        while room.last_seq + 1 in room.pending:
            self._emit(room, room.last_seq + 1, room.pending.pop(room.last_seq + 1))
        for stale in [s for s in room.pending if s <= room.last_seq]:
            del room.pending[stale]

    def _emit(self, room: _Room, seq: int, frame: str) -> None:
        room.last_seq = seq
        room.ring.append((seq, frame))
        if room.streams:  # the stored message of a streamed turn ends its stream
            ref = _turn_of.decode(frame)
            if ref.turn_id is not None:
                self._end_stream(room, ref.turn_id, ref.id, whole_turn=True)
        delivered = 0
        for socket in list(room.sockets):
            if seq > socket.seen:
                socket.seen = seq
                if socket.offer(frame):
                    delivered += 1
                else:
                    self._overflow(room, socket)
        metrics.frames_delivered(delivered)

    def _broadcast(self, room: _Room, frame: str) -> None:
        """To every `coagent.v1` socket (hub notices such as `resync`)."""
        self._deliver(room, frame, V1)

    def _deliver(self, room: _Room, frame: str, audience: str, stream: str = "") -> None:
        if stream:
            ahead = self._track(room, frame, stream)
            if ahead:  # sockets whose catch-up covered this delta already
                targets = [s for s in room.sockets if s.v1 and s not in ahead]
                self._offer_all(room, targets, frame)
                return
        if audience == EVERYONE:
            targets = list(room.sockets)
        elif audience == V1:
            targets = [s for s in room.sockets if s.v1]
        elif audience == STAFF:
            targets = [s for s in room.sockets if s.v1 and s.staff]
        elif audience.startswith("u:"):
            user_id = UUID(audience[2:])
            for socket in [s for s in room.sockets if s.user_id == user_id]:
                own = frame if socket.v1 else legacy_frame(frame, room.id)
                if own is None:
                    continue
                if socket.offer(own):
                    metrics.frames_delivered(1)
                else:
                    self._overflow(room, socket)
            return
        else:  # an audience from a newer version: deliver to nobody rather than to all
            return
        self._offer_all(room, targets, frame)

    def _offer_all(self, room: _Room, targets: list[Subscriber], frame: str) -> None:
        delivered = 0
        for socket in targets:
            if socket.offer(frame):
                delivered += 1
            else:
                self._overflow(room, socket)
        metrics.frames_delivered(delivered)

    # --- streams in progress (mid-stream joins)

    def _track(self, room: _Room, frame: str, stream: str) -> set[Subscriber]:
        """Remember a relayed delta (or forget an aborted stream); returns the sockets that
        must not get this delta (their catch-up covered it).
        """
        now = time.monotonic()
        if stream == STREAM_ABORTED:
            ref = _turn_of.decode(frame)
            if ref.turn_id is not None:
                self._end_stream(room, ref.turn_id, ref.message_id)
            return set()
        if stream != STREAM_DELTA:
            return set()
        delta = _delta.decode(frame)
        if delta.message_id in room.ended or delta.turn_id in room.ended:
            return set()
        known = room.streams.get(delta.turn_id)
        if known is not None and known.message_id != delta.message_id:
            known = None  # the turn streams a new message (run again, or after a tool call)
        if known is not None and delta.first_index <= known.index:
            # Had it already (from the log, or twice): only the sockets still behind get it.
            known.relayed = max(known.relayed, delta.index)
            ahead = {s for s, index in known.caught.items() if index >= delta.index}
            if known.relayed >= known.index:
                known.caught.clear()
            return ahead
        if known is None or delta.first_index > known.index + 1:
            # The first frame this hub sees of the message (or one after a frame it missed):
            # what it holds starts here, until the stream log fills in the rest.
            room.streams[delta.turn_id] = Stream(
                message_id=delta.message_id,
                first_index=delta.first_index,
                index=delta.index,
                parts=[delta.text],
                updated=now,
                relayed=delta.index,
            )
            return set()
        known.parts.append(delta.text)
        known.index, known.updated, known.relayed = delta.index, now, delta.index
        known.caught.clear()
        return set()

    def _end_stream(
        self, room: _Room, turn_id: UUID, message_id: UUID | None, *, whole_turn: bool = False
    ) -> None:
        """A streamed message ended (withdrawn, or gone stale); `whole_turn`: the turn's
        stored message came, which ends whatever it streamed.
        """
        stream = room.streams.get(turn_id)
        if stream is not None and (whole_turn or stream.message_id == message_id):
            del room.streams[turn_id]
            room.ended[stream.message_id] = None
        if message_id is not None:
            room.ended[message_id] = None
        if whole_turn:
            room.ended[turn_id] = None
        while len(room.ended) > 128:
            room.ended.popitem(last=False)

    async def _complete_streams(self, room: _Room) -> None:
        """Before a catch-up: read the stream log when this hub may lack the start of a
        turn in progress. While the log cannot be read (Redis down) the catch-up starts
        where this hub's relaying did (`first_index` > 0).
        """
        if room.streams_known and all(s.first_index == 0 for s in room.streams.values()):
            return
        try:
            logged = await self._bus.logged_streams(room.id)
        except BusUnavailable:
            return
        # No await from here: what was relayed while the log was read is merged with it.
        now = time.monotonic()
        for entry in logged:
            if entry.message_id in room.ended or entry.turn_id in room.ended:
                continue
            merged = merge_stream(room.streams.get(entry.turn_id), entry, now)
            if merged is not None:
                room.streams[entry.turn_id] = merged
        room.streams_known = True

    def _catch_up_frames(self, room: _Room, replayed: list[str], socket: Subscriber) -> list[str]:
        """One `message.delta` per turn streaming now, with all its text so far; none for a
        turn whose stored message is among the `replayed` frames (read from the database
        before this hub relayed it).
        """
        if not room.streams:
            return []
        horizon = time.monotonic() - self._stream_ttl
        for turn_id, gone in [(t, s) for t, s in room.streams.items() if s.updated < horizon]:
            self._end_stream(room, turn_id, gone.message_id)  # its end never came: it died
        stored = {_turn_of.decode(frame).turn_id for frame in replayed}
        frames = []
        for turn_id, stream in room.streams.items():
            if turn_id in stored:
                continue
            frames.append(stream.catch_up(room.id, turn_id))
            if stream.index > stream.relayed:
                stream.caught[socket] = stream.index
        return frames

    def _overflow(self, room: _Room, socket: Subscriber) -> None:
        metrics.socket_dropped()
        room.sockets.discard(socket)
        socket.drop(CLOSE_RESYNC, "too slow: reconnect with since_seq")

    async def _backlog(self, room: _Room, since: int) -> list[tuple[int, str]] | None:
        """Messages after `since`, from memory or else from the database; None when there
        are more than a replay may carry.
        """
        backlog = room.backlog(since)
        if backlog is not None:
            return backlog
        stored = await self._source.after(room.id, since, self._replay_limit + 1)
        if len(stored) > self._replay_limit:
            return None
        replay = [(m.seq, message_frame(m)) for m in stored]
        # What arrived while we read is in memory (unless the ring overran meanwhile).
        tail = room.backlog(replay[-1][0] if replay else since)
        return None if tail is None else replay + tail

    async def _fill_gap(self, room: _Room) -> None:
        """A message came ahead of its turn: wait briefly for the missing ones, then read
        them from the database (they were committed before they were published).
        """
        try:
            await asyncio.sleep(self._gap_wait)
            while (
                room.pending
                and min(room.pending) > room.last_seq + 1
                and self._rooms.get(room.id) is room
            ):
                await self._catch_up(room, min(room.pending) - 1)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("gap fill failed", extra={"room_id": str(room.id)})
            self._skip_to_pending(room, "messages could not be recovered")
        finally:
            room.filling = None

    async def _catch_up(self, room: _Room, upto: int) -> None:
        while room.last_seq < upto:
            since = room.last_seq
            stored = await self._source.after(room.id, since, min(self._replay_limit, upto - since))
            # Judge the read by where it started: the bus may have delivered some of these
            # meanwhile (`_accept` skips what went out already).
            if not stored or stored[0].seq != since + 1:
                if room.last_seq > since:
                    continue  # moved on meanwhile: read again from there
                self._skip_to_pending(room, "messages are missing")
                return
            for message in stored:
                self._accept(room, message.seq, message_frame(message))

    def _skip_to_pending(self, room: _Room, reason: str) -> None:
        """Give up on a gap: tell the sockets, then go on from the next message we hold."""
        if room.pending:
            room.last_seq = min(room.pending) - 1
        self._broadcast(room, resync_frame(room, reason))
        if room.pending:
            first = min(room.pending)
            self._accept(room, first, room.pending.pop(first))

    async def _on_reconnect(self) -> None:
        for room in list(self._rooms.values()):
            if not room.ready.is_set():
                continue
            try:
                await self._catch_up(room, await self._source.last_seq(room.id))
            except Exception:  # the database is down too: the resync below says it all
                logger.exception("catch-up after reconnect failed")
            room.streams_known = False  # deltas were lost meanwhile: read the log again
            self._broadcast(room, resync_frame(room, "live updates were interrupted"))

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def resync_frame(room: _Room, reason: str) -> str:
    return encode(ResyncEvent(room_id=room.id, last_seq=room.last_seq, reason=reason))


def merge_stream(known: Stream | None, logged: LoggedStream, now: float) -> Stream | None:
    """What a hub holds of a turn, completed from the stream log; None when the log adds
    nothing. `logged` covers frames 0..k; `known`, relayed live, covers f..i. The log was
    written before each frame was published, so frames after k reach this hub live (they
    follow), and those up to k that come later are already held (`Stream.index`).
    """
    k = len(logged.parts) - 1
    if known is None:
        return Stream(
            message_id=logged.message_id,
            first_index=0,
            index=k,
            parts=list(logged.parts),
            updated=now,
        )
    if known.message_id != logged.message_id or known.first_index == 0:
        return None  # another message of the turn (the log is older), or whole already
    if k + 1 < known.first_index:
        return None  # frames between the two are in neither: stays partial
    if k >= known.index:
        parts, index = list(logged.parts), k
    else:
        parts, index = [*logged.parts[: known.first_index], *known.parts], known.index
    return Stream(
        message_id=known.message_id,
        first_index=0,
        index=index,
        parts=parts,
        updated=max(now, known.updated),
        relayed=known.relayed,
        caught=known.caught,
    )
