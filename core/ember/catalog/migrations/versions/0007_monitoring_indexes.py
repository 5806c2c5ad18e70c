"""indexes that let metrics and the dashboard read backups and operations from indexes
alone (measured: benchmarks/monitoring_bench.py)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 08:40:00
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

#: the per-volume summary and chain queries: covering
SUMMARY = ['deleted', 'volume_id', 'status', 'data_timestamp', 'parent_id', 'project_id',
           'stored_bytes', 'created_at']


def upgrade() -> None:
    op.drop_index('ix_backups_volume_summary', table_name='backups')
    op.create_index('ix_backups_volume_summary', 'backups', SUMMARY)
    op.create_index('ix_backups_container_usage', 'backups',
                    ['deleted', 'container', 'stored_bytes', 'object_count'])
    op.create_index('ix_backups_created_at', 'backups', ['created_at'])
    op.create_index('ix_backups_deleted_at', 'backups', ['deleted_at'])
    # (status, kind) is the new index's prefix
    op.drop_index('ix_backup_operations_status', table_name='backup_operations')
    op.create_index('ix_backup_operations_outcome', 'backup_operations',
                    ['status', 'kind', 'duration_seconds', 'total_bytes'])


def downgrade() -> None:
    op.drop_index('ix_backup_operations_outcome', table_name='backup_operations')
    op.create_index('ix_backup_operations_status', 'backup_operations', ['status', 'kind'])
    op.drop_index('ix_backups_deleted_at', table_name='backups')
    op.drop_index('ix_backups_created_at', table_name='backups')
    op.drop_index('ix_backups_container_usage', table_name='backups')
    op.drop_index('ix_backups_volume_summary', table_name='backups')
    op.create_index('ix_backups_volume_summary', 'backups',
                    ['deleted', 'volume_id', 'status', 'data_timestamp'])
