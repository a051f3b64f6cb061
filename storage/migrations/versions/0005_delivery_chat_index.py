"""delivery (chat_id, state, id) index for outbox claims

Without it the claim's per-chat "is anything earlier still in flight?" probe scans the whole
outbox for every candidate row: quadratic in the queue length (about 1 s per claim with 3,000
queued deliveries on SQLite).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_chat_state", ["chat_id", "state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_chat_state")
