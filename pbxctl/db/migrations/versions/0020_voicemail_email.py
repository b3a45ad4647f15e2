"""voicemail to e-mail: each extension's address and the outbox of the mails

``extensions.email``: where serve mails each new voicemail message (NULL: nowhere).
``voicemail_mails``: one row per message found in a node's spool, holding the whole mail
(the recording attached), kept until sent or given up, so a message is queued once and
a sent one is never sent again, whatever restarts in between.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('extensions') as batch:
        batch.add_column(sa.Column('email', sa.String(length=254), nullable=True))
    op.create_table(
        'voicemail_mails',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('node', sa.String(length=64), nullable=False),
        sa.Column('message_key', sa.String(length=200), nullable=False),
        sa.Column('mailbox', sa.String(length=6), nullable=False),
        sa.Column('recipient', sa.String(length=254), nullable=False),
        sa.Column('mail', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_voicemail_mails')),
        sa.UniqueConstraint('node', 'message_key', name=op.f('uq_voicemail_mails_node')),
    )
    with op.batch_alter_table('voicemail_mails') as batch:
        batch.create_index('ix_voicemail_mails_due', ['state', 'next_attempt_at'],
                           unique=False)


def downgrade() -> None:
    op.drop_table('voicemail_mails')
    with op.batch_alter_table('extensions') as batch:
        batch.drop_column('email')
