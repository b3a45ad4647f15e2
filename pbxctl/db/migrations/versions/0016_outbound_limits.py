"""outbound_policies: the brakes on a branch's outbound calls

``max_calls`` (concurrent outbound calls; NULL: no limit), ``max_seconds`` (the longest call
per destination class, in seconds; ``{}`` for none) and ``after_hours_classes`` (the classes
that still go out when the branch is closed; NULL: no night rule).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 20:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_policies') as batch:
        batch.add_column(sa.Column('max_calls', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('max_seconds', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('after_hours_classes', sa.JSON(), nullable=True))
    op.execute("UPDATE outbound_policies SET max_seconds = '{}'")
    with op.batch_alter_table('outbound_policies') as batch:
        batch.alter_column('max_seconds', existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('outbound_policies') as batch:
        batch.drop_column('after_hours_classes')
        batch.drop_column('max_seconds')
        batch.drop_column('max_calls')
