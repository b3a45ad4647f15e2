"""rate decks and cdrs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:10:11.758103
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cdr_quarantine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('raw_hash', sa.String(length=64), nullable=False),
    sa.Column('quarantined_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cdr_quarantine')),
    sa.UniqueConstraint('source', 'line', 'raw_hash', name=op.f('uq_cdr_quarantine_source'))
    )
    op.create_table('cdrs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('src', sa.String(length=80), nullable=False),
    sa.Column('dst', sa.String(length=80), nullable=False),
    sa.Column('channel', sa.String(length=80), nullable=False),
    sa.Column('dstchannel', sa.String(length=80), nullable=False),
    sa.Column('disposition', sa.String(length=16), nullable=False),
    sa.Column('duration', sa.Integer(), nullable=False),
    sa.Column('billsec', sa.Integer(), nullable=False),
    sa.Column('department', sa.String(length=32), nullable=False),
    sa.Column('uniqueid', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('carrier', sa.String(length=32), nullable=True),
    sa.Column('destination', sa.String(length=32), nullable=True),
    sa.Column('charged_seconds', sa.Integer(), nullable=False),
    sa.Column('cost', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('prefix', sa.String(length=15), nullable=True),
    sa.Column('deck_id', sa.Integer(), nullable=True),
    sa.Column('unrated_reason', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cdrs')),
    sa.UniqueConstraint('key', name=op.f('uq_cdrs_key'))
    )
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.create_index('ix_cdrs_start_department', ['start', 'department'], unique=False)

    op.create_table('rate_decks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('carrier_id', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['carrier_id'], ['carriers.id'], name=op.f('fk_rate_decks_carrier_id_carriers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_decks')),
    sa.UniqueConstraint('carrier_id', 'valid_from', name=op.f('uq_rate_decks_carrier_id'))
    )
    with op.batch_alter_table('rate_decks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_decks_carrier_id'), ['carrier_id'], unique=False)

    op.create_table('rates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deck_id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=15), nullable=False),
    sa.Column('destination', sa.String(length=64), nullable=False),
    sa.Column('rate_per_minute', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('connect_fee', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('min_seconds', sa.Integer(), nullable=False),
    sa.Column('increment_seconds', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['deck_id'], ['rate_decks.id'], name=op.f('fk_rates_deck_id_rate_decks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rates')),
    sa.UniqueConstraint('deck_id', 'prefix', name=op.f('uq_rates_deck_id'))
    )


def downgrade() -> None:
    op.drop_table('rates')
    with op.batch_alter_table('rate_decks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_decks_carrier_id'))

    op.drop_table('rate_decks')
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.drop_index('ix_cdrs_start_department')

    op.drop_table('cdrs')
    op.drop_table('cdr_quarantine')
