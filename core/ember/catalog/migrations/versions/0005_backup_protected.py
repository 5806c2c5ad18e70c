"""backups.protected: a backup exempt from delete and prune (Ember only)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 08:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('backups') as batch:
        batch.add_column(sa.Column('protected', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('backups') as batch:
        batch.drop_column('protected')
