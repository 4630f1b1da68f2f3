"""agent tools: agent_config and agent_config_version get tools, tool_bounds, interrupt_policy;
agent_turn gets cancel_requested (the interrupt policy's signal)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy import types as sa_types
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("agent_config", "agent_config_version")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("tools", sa_types.JsonB, nullable=False, server_default="[]")
            )
            batch.add_column(
                sa.Column("tool_bounds", sa_types.JsonB, nullable=False, server_default="{}")
            )
            batch.add_column(
                sa.Column(
                    "interrupt_policy",
                    sa.String(length=16),
                    nullable=False,
                    server_default="queue",
                )
            )
    with op.batch_alter_table("agent_config") as batch:
        batch.create_check_constraint(
            op.f("ck_agent_config_interrupt_policy"),
            "interrupt_policy IN ('queue', 'interrupt')",
        )
    with op.batch_alter_table("agent_turn") as batch:
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_turn") as batch:
        batch.drop_column("cancel_requested")
    with op.batch_alter_table("agent_config") as batch:
        batch.drop_constraint(op.f("ck_agent_config_interrupt_policy"), type_="check")
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("interrupt_policy")
            batch.drop_column("tool_bounds")
            batch.drop_column("tools")
