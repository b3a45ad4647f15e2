"""sealed secrets: room for encrypted values

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 10:05:00

Secret columns widen to hold Fernet tokens with their version prefix. Clear-text values
written before stay readable and are encrypted by 'pbxctl init' (run it again after
upgrading) or 'pbxctl secrets rotate-key', which have the key (a migration has none).
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# table, column, length before, nullable
SECRET_COLUMNS = [('nodes', 'ami_secret', 128, False), ('carriers', 'secret', 128, True),
                  ('webhooks', 'secret', 64, False), ('extensions', 'sip_ha1', 32, False)]
SEALED_LENGTH = 512


def upgrade() -> None:
    for table, column, before, nullable in SECRET_COLUMNS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(length=before),
                                  type_=sa.String(length=SEALED_LENGTH),
                                  existing_nullable=nullable)


def downgrade() -> None:
    connection = op.get_bind()
    for table, column, _before, _nullable in SECRET_COLUMNS:
        sealed = connection.scalar(sa.text(
            f"SELECT count(*) FROM {table} WHERE {column} LIKE 'pbxctl:v1:%'"))
        if sealed:
            raise RuntimeError(f"{table}.{column} holds {sealed} encrypted secret(s) that "
                               "revision 0008 cannot store; not downgrading")
    for table, column, before, nullable in SECRET_COLUMNS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(length=SEALED_LENGTH),
                                  type_=sa.String(length=before), existing_nullable=nullable)
