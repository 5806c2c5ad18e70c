"""Alembic environment: always run programmatically by ``ember.catalog.migrate`` with
an open connection in ``config.attributes["connection"]`` (there is no alembic.ini)."""

from alembic import context

from ember.catalog.models import Base

connection = context.config.attributes["connection"]
# render_as_batch: ALTERs become table copies on SQLite, plain ALTERs elsewhere
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
