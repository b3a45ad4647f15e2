"""queue names that cannot collide

Asterisk names a queue ``q-<branch>-<queue>``; from now on every ``-`` of the branch's slug
is doubled (``q-north--west-sales``), so ``ab-cd/ef`` and ``ab/cd-ef`` differ. Stored stays
of queues whose branch slug has a ``-`` are renamed with them, so service levels keep their
history. A stay whose old name two queues shared cannot be told apart and keeps it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def _renames() -> list[tuple[str, str]]:
    """(old name, new name) of every queue whose name changes and was its own."""
    rows = op.get_bind().execute(sa.text(
        "SELECT b.slug, q.name FROM queues q JOIN branches b ON b.id = q.branch_id")).all()
    old_names = [f"q-{slug}-{name}" for slug, name in rows]
    return [(old, f"q-{slug.replace('-', '--')}-{name}")
            for (slug, name), old in zip(rows, old_names, strict=True)
            if "-" in slug and old_names.count(old) == 1]


def _rename(pairs: list[tuple[str, str]]) -> None:
    for source, target in pairs:
        op.get_bind().execute(sa.text("UPDATE queue_calls SET queue = :target "
                                      "WHERE queue = :source"),
                              {"source": source, "target": target})


def upgrade() -> None:
    _rename(_renames())


def downgrade() -> None:
    _rename([(new, old) for old, new in _renames()])
