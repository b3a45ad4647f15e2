"""department spend caps and the spend brake's state

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 20:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'department_limits',
        sa.Column('department', sa.String(length=32), nullable=False),
        sa.Column('monthly_cap', sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column('warn_percent', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('department', name=op.f('pk_department_limits')),
    )
    op.create_table(
        'spend_states',
        sa.Column('department', sa.String(length=32), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('spent', sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('warned_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lifted_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('department', 'month', name=op.f('pk_spend_states')),
    )


def downgrade() -> None:
    op.drop_table('spend_states')
    op.drop_table('department_limits')
