"""carriers.send_names: whether a carrier sees the caller's display name

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('carriers', sa.Column('send_names', sa.Boolean(), nullable=False,
                                        server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('carriers') as batch:
        batch.drop_column('send_names')
