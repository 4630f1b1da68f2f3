"""Agent-turn tables. Private: import them from `coagent.adapters.persistence.models`.

The database keeps the turn guarantees of `coagent.application.ports.turns`: a turn's
identity (room, agent type, trigger key) is unique; one message per turn (`message.turn_id`
is unique); one lease row per room.
"""

from datetime import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase, orm_registry
from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

TURN_STATUSES = ("queued", "running", "succeeded", "failed", "skipped", "merged")
TURN_KINDS = ("mention", "probability", "message_count", "time_interval", "silence", "request")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


_QUEUED = text("status = 'queued'")
_RUNNING = text("status = 'running'")


class AgentTurnModel(UUIDv7AuditBase):
    __tablename__ = "agent_turn"
    __table_args__ = (
        UniqueConstraint("room_id", "agent_type", "trigger_key", name="uq_agent_turn_identity"),
        CheckConstraint(_in("status", TURN_STATUSES), name="status"),
        CheckConstraint(_in("kind", TURN_KINDS), name="kind"),
        # The turn list (newest first) and the per-minute limit.
        Index("ix_agent_turn_room_id_created_at", "room_id", "created_at"),
        # The queue of a room, and the scheduler's scans: small partial indexes.
        Index(
            "ix_agent_turn_queued",
            "room_id",
            "created_at",
            postgresql_where=_QUEUED,
            sqlite_where=_QUEUED,
        ),
        Index(
            "ix_agent_turn_running_lease",
            "lease_expires_at",
            postgresql_where=_RUNNING,
            sqlite_where=_RUNNING,
        ),
    )

    room_id: Mapped[UUID] = mapped_column(ForeignKey("room.id", ondelete="CASCADE"))
    agent_type: Mapped[str] = mapped_column(String(16))
    config_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("agent_config.id", ondelete="SET NULL"), index=True
    )
    config_revision: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    trigger_key: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    caused_by_seq: Mapped[int | None] = mapped_column(BigInteger)
    requested_by: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_token: Mapped[UUID | None] = mapped_column(GUID(length=16))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    provider: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(200))
    tokens_in: Mapped[int | None] = mapped_column(Integer)
    tokens_out: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    first_token_ms: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(32))
    seen_up_to_seq: Mapped[int | None] = mapped_column(BigInteger)
    merged_into: Mapped[UUID | None] = mapped_column(GUID(length=16))
    # Interrupt policy (migration 0010): a new human message asked this running turn to stop.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    started_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


# Who runs a room's turns now: one row per room, taken over only once expired. Core only
# (no ORM class): every use is one INSERT ... ON CONFLICT or UPDATE/DELETE statement.
agent_room_lease = Table(
    "agent_room_lease",
    orm_registry.metadata,
    Column(
        "room_id",
        GUID(length=16),
        ForeignKey("room.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("holder", GUID(length=16), nullable=False),
    Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
)


PROPOSAL_STATUSES = ("pending", "approved", "edited", "rejected", "expired")
_PENDING = text("status = 'pending'")


class AgentProposalModel(UUIDv7AuditBase):
    """The peer agent's draft (issue 17): one per turn, posted only once approved."""

    __tablename__ = "agent_proposal"
    __table_args__ = (
        CheckConstraint(_in("status", PROPOSAL_STATUSES), name="status"),
        # The staff list (newest first, optionally by status).
        Index("ix_agent_proposal_room_id_created_at", "room_id", "created_at"),
        # The scheduler's expiry scan.
        Index(
            "ix_agent_proposal_pending_expires_at",
            "expires_at",
            postgresql_where=_PENDING,
            sqlite_where=_PENDING,
        ),
    )

    room_id: Mapped[UUID] = mapped_column(ForeignKey("room.id", ondelete="CASCADE"))
    turn_id: Mapped[UUID] = mapped_column(
        ForeignKey("agent_turn.id", ondelete="CASCADE"), unique=True
    )
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    decided_by: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    decided_by_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    screened_by_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    # The peer configuration's name when it drafted this (migration 0011): its message's author.
    sender_name: Mapped[str | None] = mapped_column(String(100))


# How far the agents considered each room's messages (migration 0011): ConsiderMessage moves
# it up to the seq it decided on; the scheduler's tick kicks the messages above it again (a
# `consider_message` kick lost while the queue was down). No row: nothing considered yet.
agent_room_considered = Table(
    "agent_room_considered",
    orm_registry.metadata,
    Column(
        "room_id",
        GUID(length=16),
        ForeignKey("room.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", BigInteger, nullable=False),
)


# The tool calls a turn executed (migration 0011), keyed by the turn and the call (its tool
# and arguments): a turn run again after losing its lease reuses the recorded result instead
# of running the tool a second time.
agent_tool_call = Table(
    "agent_tool_call",
    orm_registry.metadata,
    Column(
        "turn_id",
        GUID(length=16),
        ForeignKey("agent_turn.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("call_key", String(64), primary_key=True),
    Column("tool", String(64), nullable=False),
    Column("result", JsonB, nullable=False),
    Column("created_at", DateTimeUTC(timezone=True), nullable=False),
)
