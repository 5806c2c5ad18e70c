"""Initial catalogue: volumes, snapshots, backups

Revision ID: 0001
Revises:
Create Date: 2026-11-26 06:03:09.088063

Frozen copy of the schema (does not import the models, so later model changes need
a new revision).
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

#: naive UTC with microseconds (MySQL/MariaDB need DATETIME(6) for them)
DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table('backups',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.Column('display_description', sa.String(length=255), nullable=True),
    sa.Column('container', sa.String(length=255), nullable=True),
    sa.Column('parent_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('fail_reason', sa.String(length=255), nullable=True),
    sa.Column('service_metadata', sa.String(length=255), nullable=True),
    sa.Column('service', sa.String(length=255), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('object_count', sa.Integer(), nullable=True),
    sa.Column('temp_volume_id', sa.String(length=36), nullable=True),
    sa.Column('temp_snapshot_id', sa.String(length=36), nullable=True),
    sa.Column('num_dependent_backups', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.String(length=36), nullable=True),
    sa.Column('data_timestamp', DateTime, nullable=True),
    sa.Column('restore_volume_id', sa.String(length=36), nullable=True),
    sa.Column('encryption_key_id', sa.String(length=36), nullable=True),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('created_at', DateTime, nullable=False),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.Column('deleted_at', DateTime, nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('owner_host', sa.String(length=255), nullable=True),
    sa.Column('owner_pid', sa.Integer(), nullable=True),
    sa.Column('heartbeat_at', DateTime, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backups_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_backups_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_backups_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_backups_volume_id'), ['volume_id'], unique=False)

    op.create_table('snapshots',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.Column('display_description', sa.String(length=255), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('path', sa.String(length=4096), nullable=False),
    sa.Column('temporary', sa.Boolean(), nullable=False),
    sa.Column('created_at', DateTime, nullable=False),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.Column('deleted_at', DateTime, nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_snapshots_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_snapshots_volume_id'), ['volume_id'], unique=False)

    op.create_table('volumes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.Column('display_description', sa.String(length=255), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('previous_status', sa.String(length=32), nullable=True),
    sa.Column('path', sa.String(length=4096), nullable=False),
    sa.Column('owns_path', sa.Boolean(), nullable=False),
    sa.Column('instance_id', sa.String(length=255), nullable=True),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('encryption_key_id', sa.String(length=36), nullable=True),
    sa.Column('volume_type_id', sa.String(length=36), nullable=True),
    sa.Column('bootable', sa.Boolean(), nullable=False),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('created_at', DateTime, nullable=False),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.Column('deleted_at', DateTime, nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('owner_host', sa.String(length=255), nullable=True),
    sa.Column('owner_pid', sa.Integer(), nullable=True),
    sa.Column('heartbeat_at', DateTime, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('volumes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volumes_display_name'), ['display_name'], unique=False)
        batch_op.create_index(batch_op.f('ix_volumes_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volumes_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('volumes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volumes_status'))
        batch_op.drop_index(batch_op.f('ix_volumes_project_id'))
        batch_op.drop_index(batch_op.f('ix_volumes_display_name'))

    op.drop_table('volumes')
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_snapshots_volume_id'))
        batch_op.drop_index(batch_op.f('ix_snapshots_project_id'))

    op.drop_table('snapshots')
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backups_volume_id'))
        batch_op.drop_index(batch_op.f('ix_backups_status'))
        batch_op.drop_index(batch_op.f('ix_backups_project_id'))
        batch_op.drop_index(batch_op.f('ix_backups_parent_id'))

    op.drop_table('backups')
