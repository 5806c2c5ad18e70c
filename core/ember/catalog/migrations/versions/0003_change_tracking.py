"""backups.change_tracking: how a backup read its source

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 01:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('backups') as batch:
        batch.add_column(sa.Column('change_tracking', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('backups') as batch:
        batch.drop_column('change_tracking')
