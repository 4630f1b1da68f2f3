"""agent recovery and names: message.sender_name and agent_proposal.sender_name (an agent
message's author as named when written), agent_room_considered (the scheduler's re-kick of
messages whose consider kick was lost), agent_tool_call (tool calls run once per turn)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy import types as sa_types
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("message", "agent_proposal"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("sender_name", sa.String(length=100), nullable=True))
    op.create_table(
        "agent_room_considered",
        sa.Column("room_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["room.id"],
            name=op.f("fk_agent_room_considered_room_id_room"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_agent_room_considered")),
    )
    # Every message written before this revision counts as considered (its kick, if lost,
    # is older than anything the tick would answer).
    op.execute("INSERT INTO agent_room_considered (room_id, seq) SELECT id, last_seq FROM room")
    op.create_table(
        "agent_tool_call",
        sa.Column("turn_id", sa_types.GUID(length=16), nullable=False),
        sa.Column("call_key", sa.String(length=64), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("result", sa_types.JsonB, nullable=False),
        sa.Column("created_at", sa_types.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["turn_id"],
            ["agent_turn.id"],
            name=op.f("fk_agent_tool_call_turn_id_agent_turn"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("turn_id", "call_key", name=op.f("pk_agent_tool_call")),
    )


def downgrade() -> None:
    op.drop_table("agent_tool_call")
    op.drop_table("agent_room_considered")
    for table in ("agent_proposal", "message"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("sender_name")
