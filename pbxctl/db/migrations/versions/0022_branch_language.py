"""a language per branch

``branches.language``: what the branch's phones speak, an ISO 639-1 code that every
provisioning template spells in its vendor's words; ``en`` for the branches there are.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('branches') as batch:
        batch.add_column(sa.Column('language', sa.String(length=8), server_default='en',
                                   nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('branches') as batch:
        batch.drop_column('language')
