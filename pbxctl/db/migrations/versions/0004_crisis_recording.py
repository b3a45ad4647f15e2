"""crisis switches, recording rules, recordings dir

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:39:41.328404
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('recording_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('target', sa.String(length=32), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_rules')),
    sa.UniqueConstraint('scope', 'target', name=op.f('uq_recording_rules_scope'))
    )
    op.create_table('crisis_switches',
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('destination', sa.String(length=64), nullable=False),
    sa.Column('record', sa.Boolean(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_crisis_switches_branch_id_branches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('branch_id', name=op.f('pk_crisis_switches'))
    )
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recordings_dir', sa.String(length=4096), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_column('recordings_dir')

    op.drop_table('crisis_switches')
    op.drop_table('recording_rules')
