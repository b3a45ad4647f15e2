"""running cost totals per department, currency and quarter hour

``report costs`` read every outbound call of the month; it now reads ``cost_totals``,
which every write to ``cdrs`` keeps exact in the same transaction. Filled here from the
calls already stored.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def _quarter_hour() -> str:
    if op.get_bind().dialect.name == 'postgresql':
        return "floor(extract(epoch FROM start) / 900)::bigint"
    seconds = "CAST(strftime('%s', start) AS INTEGER)"   # SQLite: UTC text, / truncates
    return f"({seconds} / 900 - ({seconds} % 900 < 0))"


def upgrade() -> None:
    op.create_table(
        'cost_totals',
        sa.Column('quarter_hour', sa.BigInteger(), nullable=False),
        sa.Column('department', sa.String(length=32), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('calls', sa.BigInteger(), nullable=False),
        sa.Column('billsec', sa.BigInteger(), nullable=False),
        sa.Column('charged_seconds', sa.BigInteger(), nullable=False),
        sa.Column('cost', sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column('unrated', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('quarter_hour', 'department', 'currency',
                                name=op.f('pk_cost_totals')),
    )
    rated = "unrated_reason IS NULL"
    op.execute(
        "INSERT INTO cost_totals (quarter_hour, department, currency, calls, billsec, "
        "charged_seconds, cost, unrated) "
        f"SELECT {_quarter_hour()}, department, coalesce(currency, ''), "
        f"sum(CASE WHEN {rated} THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN {rated} THEN billsec ELSE 0 END), "
        f"sum(CASE WHEN {rated} THEN charged_seconds ELSE 0 END), "
        f"sum(CASE WHEN {rated} THEN cost ELSE 0 END), "
        f"sum(CASE WHEN {rated} THEN 0 ELSE 1 END) "
        "FROM cdrs WHERE direction = 'outbound' AND billsec > 0 GROUP BY 1, 2, 3")


def downgrade() -> None:
    op.drop_table('cost_totals')
