"""backup policies, their volumes and runs, backup verifications, leases

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 08:20:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        'backup_policies',
        sa.Column('created_at', DateTime, nullable=False),
        sa.Column('updated_at', DateTime, nullable=True),
        sa.Column('deleted_at', DateTime, nullable=True),
        sa.Column('deleted', sa.Boolean(), nullable=False),
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=True),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.String(length=255), nullable=True),
        sa.Column('schedule', sa.String(length=255), nullable=False),
        sa.Column('full_every', sa.Integer(), nullable=True),
        sa.Column('max_chain', sa.Integer(), nullable=True),
        sa.Column('retention', sa.JSON(), nullable=False),
        sa.Column('consolidate', sa.Boolean(), nullable=False),
        sa.Column('verify_schedule', sa.String(length=255), nullable=True),
        sa.Column('verify_percent', sa.Integer(), nullable=True),
        sa.Column('force', sa.Boolean(), nullable=False),
        sa.Column('project_default', sa.Boolean(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('backed_up_for', DateTime, nullable=True),
        sa.Column('verified_for', DateTime, nullable=True),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_backup_policies_project_id', 'backup_policies', ['project_id'])
    op.create_table(
        'backup_policy_volumes',
        sa.Column('volume_id', sa.String(length=36), nullable=False),
        sa.Column('policy_id', sa.String(length=36), nullable=False),
        sa.Column('created_at', DateTime, nullable=False),
        sa.PrimaryKeyConstraint('volume_id'))
    op.create_index('ix_backup_policy_volumes_policy_id', 'backup_policy_volumes',
                    ['policy_id'])
    op.create_table(
        'backup_policy_runs',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('policy_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('scheduled_for', DateTime, nullable=False),
        sa.Column('started_at', DateTime, nullable=False),
        sa.Column('finished_at', DateTime, nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=True),
        sa.Column('created', sa.JSON(), nullable=False),
        sa.Column('pruned', sa.JSON(), nullable=False),
        sa.Column('verified', sa.JSON(), nullable=False),
        sa.Column('failures', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_backup_policy_runs_policy_id', 'backup_policy_runs', ['policy_id'])
    op.create_table(
        'backup_verifications',
        sa.Column('backup_id', sa.String(length=36), nullable=False),
        sa.Column('verified_at', DateTime, nullable=False),
        sa.Column('damaged', sa.Boolean(), nullable=False),
        sa.Column('detail', sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint('backup_id'))
    op.create_table(
        'leases',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('holder', sa.String(length=255), nullable=False),
        sa.Column('acquired_at', DateTime, nullable=False),
        sa.Column('expires_at', DateTime, nullable=False),
        sa.PrimaryKeyConstraint('name'))


def downgrade() -> None:
    for table in ('leases', 'backup_verifications', 'backup_policy_runs',
                  'backup_policy_volumes', 'backup_policies'):
        op.drop_table(table)
