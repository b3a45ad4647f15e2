"""initial schema: nodes, branches, extensions, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-23 18:24:33.071724
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('interface', sa.String(length=8), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('object_type', sa.String(length=16), nullable=False),
    sa.Column('object_key', sa.String(length=64), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('nodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('ami_host', sa.String(length=253), nullable=False),
    sa.Column('ami_port', sa.Integer(), nullable=False),
    sa.Column('ami_user', sa.String(length=32), nullable=False),
    sa.Column('ami_secret', sa.String(length=128), nullable=False),
    sa.Column('config_dir', sa.String(length=4096), nullable=False),
    sa.Column('sip_address', sa.String(length=45), nullable=False),
    sa.Column('sip_port', sa.Integer(), nullable=False),
    sa.Column('media_address', sa.String(length=45), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nodes')),
    sa.UniqueConstraint('name', name=op.f('uq_nodes_name'))
    )
    op.create_table('branches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('city', sa.String(length=64), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('ext_start', sa.Integer(), nullable=False),
    sa.Column('ext_end', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ext_start <= ext_end', name=op.f('ck_branches_ext_range')),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_branches_node_id_nodes'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_branches')),
    sa.UniqueConstraint('slug', name=op.f('uq_branches_slug'))
    )
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_branches_node_id'), ['node_id'], unique=False)

    op.create_table('extensions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=6), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('department', sa.String(length=32), nullable=True),
    sa.Column('sip_ha1', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_extensions_branch_id_branches'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_extensions')),
    sa.UniqueConstraint('number', name=op.f('uq_extensions_number'))
    )
    with op.batch_alter_table('extensions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_extensions_branch_id'), ['branch_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('extensions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_extensions_branch_id'))

    op.drop_table('extensions')
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_branches_node_id'))

    op.drop_table('branches')
    op.drop_table('nodes')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
