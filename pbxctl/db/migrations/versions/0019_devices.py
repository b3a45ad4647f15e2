"""devices: phones that set themselves up, each with its own SIP login (sealed password)

``name``: the device's SIP auth username; ``mac``: a desk phone's MAC (NULL for a
softphone); ``sip_password``: sealed like every secret pbxctl reads back (the phone reads
it from its provisioning file); ``key_hash``: SHA-256 of the secret in its provisioning
URL, ``key_expires``: when a one-time link stops working.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'devices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=24), nullable=False),
        sa.Column('extension_id', sa.Integer(), nullable=False),
        sa.Column('mac', sa.String(length=12), nullable=True),
        sa.Column('model', sa.String(length=24), nullable=False),
        sa.Column('sip_password', sa.String(length=512), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=True),
        sa.Column('key_expires', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['extension_id'], ['extensions.id'],
                                name=op.f('fk_devices_extension_id_extensions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
        sa.UniqueConstraint('name', name=op.f('uq_devices_name')),
        sa.UniqueConstraint('mac', name=op.f('uq_devices_mac')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_devices_key_hash')),
    )
    op.create_index(op.f('ix_devices_extension_id'), 'devices', ['extension_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_devices_extension_id'), table_name='devices')
    op.drop_table('devices')
