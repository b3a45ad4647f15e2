"""queue calls

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 19:55:11.105938
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('queue_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('queue', sa.String(length=80), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('wait_seconds', sa.Integer(), nullable=False),
    sa.Column('agent', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_calls')),
    sa.UniqueConstraint('key', name=op.f('uq_queue_calls_key'))
    )
    with op.batch_alter_table('queue_calls', schema=None) as batch_op:
        batch_op.create_index('ix_queue_calls_entered_queue', ['entered_at', 'queue'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('queue_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_queue_calls_entered_queue')

    op.drop_table('queue_calls')
