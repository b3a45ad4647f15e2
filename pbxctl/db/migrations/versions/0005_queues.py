"""queues

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 19:51:04.529687
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('queues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('strategy', sa.String(length=16), nullable=False),
    sa.Column('members', sa.JSON(), nullable=False),
    sa.Column('max_wait', sa.Integer(), nullable=False),
    sa.Column('service_level', sa.Integer(), nullable=False),
    sa.Column('target_percent', sa.Integer(), nullable=False),
    sa.Column('overflow', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_queues_branch_id_branches'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queues')),
    sa.UniqueConstraint('branch_id', 'name', name=op.f('uq_queues_branch_id'))
    )
    with op.batch_alter_table('queues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queues_branch_id'), ['branch_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('queues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queues_branch_id'))

    op.drop_table('queues')
