"""extensions: the voicemail PIN (sealed)

``voicemail_pin``: the mailbox's PIN, sealed like every secret pbxctl reads back (Asterisk's
voicemail.conf needs it in clear); NULL until one is set.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 23:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('extensions') as batch:
        batch.add_column(sa.Column('voicemail_pin', sa.String(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('extensions') as batch:
        batch.drop_column('voicemail_pin')
