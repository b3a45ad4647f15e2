"""cdrs keyed by their key, a BRIN index on start

A call record's ``key`` (node, uniqueid and sequence, or a hash of the row) becomes the
primary key and the surrogate ``id`` goes: nothing refers to it, and every index a
million-row import has to maintain costs time. On PostgreSQL the key is compared byte by
byte (collation "C"), which its index maintains faster than the database's locale. ``start`` gets a BRIN index on
PostgreSQL (rows arrive roughly in time order; the index is a few pages and nearly free
to maintain; autovacuum summarises the pages the live link adds, a bulk import its own at
once) and a plain one elsewhere.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 13:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.drop_index('ix_cdrs_start_department')
        batch_op.drop_constraint('uq_cdrs_key', type_='unique')
        batch_op.drop_constraint('pk_cdrs', type_='primary')
        batch_op.drop_column('id')
    if op.get_bind().dialect.name == 'postgresql':   # byte order: cheaper comparisons
        op.execute('ALTER TABLE cdrs ALTER COLUMN key TYPE varchar(128) COLLATE "C"')
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.create_primary_key('pk_cdrs', ['key'])
        batch_op.create_index('ix_cdrs_start', ['start'], unique=False,
                              postgresql_using='brin',
                              postgresql_with={'autosummarize': 'on'})


def downgrade() -> None:
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.drop_index('ix_cdrs_start', postgresql_using='brin')
        batch_op.drop_constraint('pk_cdrs', type_='primary')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE cdrs ALTER COLUMN key TYPE varchar(128) COLLATE "default"')
    with op.batch_alter_table('cdrs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      sa.Identity(), nullable=False))
        batch_op.create_primary_key('pk_cdrs', ['id'])
        batch_op.create_unique_constraint('uq_cdrs_key', ['key'])
        batch_op.create_index('ix_cdrs_start_department', ['start', 'department'],
                              unique=False)
