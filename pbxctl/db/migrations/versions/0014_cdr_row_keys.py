"""call records without unique ids keyed by start, then hash

A call record from a file without Asterisk's unique ids was keyed ``<node>:row:<sha1>``;
it becomes ``<node>:row:<start>:<sha1>``, the start in UTC as ``YYYYMMDDHHMMSS``. Keys
then arrive in nearly ascending order and PostgreSQL appends them to the key index
instead of inserting them at random places: such a file imports twice as fast. The hash
is kept, so a file imported before the change is recognised after it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_HEX = 40   # characters of a sha1 in hex


def _start_digits() -> str:
    if op.get_bind().dialect.name == 'postgresql':
        return "to_char(start AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS')"
    return "strftime('%Y%m%d%H%M%S', start)"      # SQLite keeps UTC text


def upgrade() -> None:
    old = f"node || ':row:' || substr(key, length(key) - {_HEX - 1})"
    op.get_bind().execute(sa.text(
        f"UPDATE cdrs SET key = node || ':row:' || {_start_digits()} || ':' || "
        f"substr(key, length(key) - {_HEX - 1}) "
        f"WHERE length(key) = length(node) + {5 + _HEX} AND key = {old}"))


def downgrade() -> None:
    new = (f"node || ':row:' || {_start_digits()} || ':' || "
           f"substr(key, length(key) - {_HEX - 1})")
    op.get_bind().execute(sa.text(
        f"UPDATE cdrs SET key = node || ':row:' || substr(key, length(key) - {_HEX - 1}) "
        f"WHERE length(key) = length(node) + {5 + 15 + _HEX} AND key = {new}"))
