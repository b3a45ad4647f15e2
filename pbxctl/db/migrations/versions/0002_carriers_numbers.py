"""carriers, numbers, outbound policies, hours, numbering plan

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:43:58.313540
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('carriers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=32), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('transport', sa.String(length=8), nullable=False),
    sa.Column('auth', sa.String(length=8), nullable=False),
    sa.Column('match', sa.JSON(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('secret', sa.String(length=128), nullable=True),
    sa.Column('number_format', sa.String(length=16), nullable=False),
    sa.Column('max_channels', sa.Integer(), nullable=True),
    sa.Column('qualify_seconds', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('contract', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_carriers')),
    sa.UniqueConstraint('slug', name=op.f('uq_carriers_slug'))
    )
    op.create_table('number_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('e164', sa.String(length=16), nullable=False),
    sa.Column('carrier', sa.String(length=32), nullable=False),
    sa.Column('branch', sa.String(length=32), nullable=False),
    sa.Column('route', sa.String(length=64), nullable=False),
    sa.Column('monthly_fee', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_number_history'))
    )
    with op.batch_alter_table('number_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_number_history_e164'), ['e164'], unique=False)

    op.create_table('numbering_plan',
    sa.Column('prefix', sa.String(length=15), nullable=False),
    sa.Column('dest_class', sa.String(length=16), nullable=False),
    sa.Column('description', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('prefix', name=op.f('pk_numbering_plan'))
    )
    op.create_table('business_hours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('opens', sa.String(length=5), nullable=False),
    sa.Column('closes', sa.String(length=5), nullable=False),
    sa.CheckConstraint('opens < closes', name=op.f('ck_business_hours_interval')),
    sa.CheckConstraint('weekday BETWEEN 1 AND 7', name=op.f('ck_business_hours_weekday')),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_business_hours_branch_id_branches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_business_hours'))
    )
    with op.batch_alter_table('business_hours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_business_hours_branch_id'), ['branch_id'], unique=False)

    op.create_table('holidays',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_holidays_branch_id_branches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holidays')),
    sa.UniqueConstraint('branch_id', 'day', name=op.f('uq_holidays_branch_id'))
    )
    with op.batch_alter_table('holidays', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holidays_branch_id'), ['branch_id'], unique=False)

    op.create_table('numbers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('e164', sa.String(length=16), nullable=False),
    sa.Column('carrier_id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('monthly_fee', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('contract', sa.String(length=64), nullable=True),
    sa.Column('route', sa.String(length=64), nullable=False),
    sa.Column('after_hours', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_numbers_branch_id_branches'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['carrier_id'], ['carriers.id'], name=op.f('fk_numbers_carrier_id_carriers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_numbers')),
    sa.UniqueConstraint('e164', name=op.f('uq_numbers_e164'))
    )
    with op.batch_alter_table('numbers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_numbers_branch_id'), ['branch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_numbers_carrier_id'), ['carrier_id'], unique=False)

    op.create_table('outbound_policies',
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('country_code', sa.String(length=3), nullable=False),
    sa.Column('national_prefix', sa.String(length=3), nullable=False),
    sa.Column('international_prefix', sa.String(length=4), nullable=False),
    sa.Column('allowed_classes', sa.JSON(), nullable=False),
    sa.Column('carriers', sa.JSON(), nullable=False),
    sa.Column('caller_id', sa.String(length=16), nullable=True),
    sa.Column('allow_foreign_caller_id', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_outbound_policies_branch_id_branches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('branch_id', name=op.f('pk_outbound_policies'))
    )


def downgrade() -> None:
    op.drop_table('outbound_policies')
    with op.batch_alter_table('numbers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_numbers_carrier_id'))
        batch_op.drop_index(batch_op.f('ix_numbers_branch_id'))

    op.drop_table('numbers')
    with op.batch_alter_table('holidays', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holidays_branch_id'))

    op.drop_table('holidays')
    with op.batch_alter_table('business_hours', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_business_hours_branch_id'))

    op.drop_table('business_hours')
    op.drop_table('numbering_plan')
    with op.batch_alter_table('number_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_number_history_e164'))

    op.drop_table('number_history')
    op.drop_table('carriers')
