"""security bans

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('security_bans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=45), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('banned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_bans'))
    )
    op.create_index(op.f('ix_security_bans_address'), 'security_bans', ['address'],
                    unique=False)
    op.create_index(op.f('ix_security_bans_expires_at'), 'security_bans', ['expires_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_security_bans_expires_at'), table_name='security_bans')
    op.drop_index(op.f('ix_security_bans_address'), table_name='security_bans')
    op.drop_table('security_bans')
