"""backup_operations (each run of create, restore, delete, verify) and
backups.stored_bytes: what metrics and the dashboard read

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 08:20:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table('backups') as batch:
        batch.add_column(sa.Column('stored_bytes', sa.BigInteger(), nullable=True))
    # per-volume aggregates (metrics, dashboard) read only this index, not the table
    op.create_index('ix_backups_volume_summary', 'backups',
                    ['deleted', 'volume_id', 'status', 'data_timestamp'])
    op.create_table(
        'backup_operations',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('backup_id', sa.String(length=36), nullable=False),
        sa.Column('volume_id', sa.String(length=36), nullable=True),
        sa.Column('project_id', sa.String(length=255), nullable=True),
        sa.Column('host', sa.String(length=255), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('started_at', DateTime, nullable=False),
        sa.Column('updated_at', DateTime, nullable=True),
        sa.Column('finished_at', DateTime, nullable=True),
        sa.Column('duration_seconds', sa.Float(), nullable=True),
        sa.Column('done_bytes', sa.BigInteger(), nullable=True),
        sa.Column('total_bytes', sa.BigInteger(), nullable=True),
        sa.Column('fail_reason', sa.String(length=255), nullable=True),
    )
    op.create_index('ix_backup_operations_backup_id', 'backup_operations', ['backup_id'])
    op.create_index('ix_backup_operations_status', 'backup_operations', ['status', 'kind'])
    op.create_index('ix_backup_operations_volume', 'backup_operations',
                    ['kind', 'status', 'volume_id', 'finished_at'])
    op.create_index('ix_backup_operations_project', 'backup_operations',
                    ['project_id', 'id'])


def downgrade() -> None:
    op.drop_table('backup_operations')
    op.drop_index('ix_backups_volume_summary', table_name='backups')
    with op.batch_alter_table('backups') as batch:
        batch.drop_column('stored_bytes')
