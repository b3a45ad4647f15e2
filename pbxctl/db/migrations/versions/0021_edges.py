"""edges and a standby node per branch

``edges``: the Kamailio SIP edges in front of the nodes (where carriers and, later, phones
send SIP; the RPC address pbxctl reloads them through). ``branches.standby_node_id``: the
node that takes a branch's calls when its own node does not answer; NULL for none.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 04:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('edges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('sip_address', sa.String(length=45), nullable=False),
    sa.Column('sip_port', sa.Integer(), nullable=False),
    sa.Column('rpc_address', sa.String(length=45), nullable=False),
    sa.Column('rpc_port', sa.Integer(), nullable=False),
    sa.Column('config_dir', sa.String(length=4096), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_edges')),
    sa.UniqueConstraint('name', name=op.f('uq_edges_name'))
    )
    with op.batch_alter_table('branches') as batch:
        batch.add_column(sa.Column('standby_node_id', sa.Integer(), nullable=True))
        batch.create_index(batch.f('ix_branches_standby_node_id'), ['standby_node_id'],
                           unique=False)
        batch.create_foreign_key(batch.f('fk_branches_standby_node_id_nodes'), 'nodes',
                                 ['standby_node_id'], ['id'], ondelete='RESTRICT')


def downgrade() -> None:
    with op.batch_alter_table('branches') as batch:
        batch.drop_constraint(batch.f('fk_branches_standby_node_id_nodes'),
                              type_='foreignkey')
        batch.drop_index(batch.f('ix_branches_standby_node_id'))
        batch.drop_column('standby_node_id')
    op.drop_table('edges')
