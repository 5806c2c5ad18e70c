"""Quotas (Cinder's quotas, quota_classes, quota_usages) and services

Revision ID: 0002
Revises: 0001

Frozen copy of the schema (does not import the models).
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
NAME = sa.String(length=255)


def _timestamps():
    return [sa.Column('created_at', DateTime, nullable=False),
            sa.Column('updated_at', DateTime, nullable=True),
            sa.Column('deleted_at', DateTime, nullable=True),
            sa.Column('deleted', sa.Boolean(), nullable=False)]


def upgrade() -> None:
    op.create_table('quotas',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('project_id', NAME, nullable=True),
                    sa.Column('resource', NAME, nullable=False),
                    sa.Column('hard_limit', sa.Integer(), nullable=True),
                    sa.Column('allocated', sa.Integer(), nullable=False),
                    *_timestamps(),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_quotas_project_id', 'quotas', ['project_id'])
    op.create_table('quota_classes',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('class_name', NAME, nullable=True),
                    sa.Column('resource', NAME, nullable=True),
                    sa.Column('hard_limit', sa.Integer(), nullable=True),
                    *_timestamps(),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_quota_classes_class_name', 'quota_classes', ['class_name'])
    op.create_table('quota_usages',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('project_id', NAME, nullable=True),
                    sa.Column('resource', NAME, nullable=True),
                    sa.Column('in_use', sa.Integer(), nullable=False),
                    sa.Column('reserved', sa.Integer(), nullable=False),
                    sa.Column('until_refresh', sa.Integer(), nullable=True),
                    *_timestamps(),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('project_id', 'resource',
                                        name='uniq_quota_usages0project_id0resource'))
    op.create_index('ix_quota_usages_project_id', 'quota_usages', ['project_id'])
    op.create_table('services',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('host', NAME, nullable=True),
                    sa.Column('binary', NAME, nullable=True),
                    sa.Column('topic', NAME, nullable=True),
                    sa.Column('report_count', sa.Integer(), nullable=False),
                    sa.Column('disabled', sa.Boolean(), nullable=True),
                    sa.Column('availability_zone', NAME, nullable=True),
                    sa.Column('disabled_reason', NAME, nullable=True),
                    sa.Column('modified_at', DateTime, nullable=True),
                    sa.Column('rpc_current_version', sa.String(length=36), nullable=True),
                    sa.Column('object_current_version', sa.String(length=36), nullable=True),
                    sa.Column('replication_status', sa.String(length=36), nullable=True),
                    sa.Column('active_backend_id', NAME, nullable=True),
                    sa.Column('frozen', sa.Boolean(), nullable=False),
                    sa.Column('cluster_name', NAME, nullable=True),
                    sa.Column('uuid', sa.String(length=36), nullable=True),
                    *_timestamps(),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('uuid'))


def downgrade() -> None:
    op.drop_table('services')
    op.drop_index('ix_quota_usages_project_id', table_name='quota_usages')
    op.drop_table('quota_usages')
    op.drop_index('ix_quota_classes_class_name', table_name='quota_classes')
    op.drop_table('quota_classes')
    op.drop_index('ix_quotas_project_id', table_name='quotas')
    op.drop_table('quotas')
