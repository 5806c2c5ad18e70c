"""What ``ember-manage db`` does to the catalogue: upgrade its schema as a step of its
own (Cinder's ``cinder-manage db sync``) and say which revision it is at."""

from __future__ import annotations

from ember.catalog import Catalog, default_url, schema


def sync_catalogue(conf) -> tuple[str | None, str]:
    """Upgrade the configured catalogue to the newest schema, whatever
    ``[database] auto_migrate`` says; returns (revision before, revision after)."""
    catalog = Catalog(default_url(conf))
    try:
        before = catalog.revision()
        catalog.migrate(auto=True)
        return before, catalog.revision() or schema.HEAD
    finally:
        catalog.close()


def catalogue_revision(conf) -> tuple[str | None, str]:
    """(the configured catalogue's schema revision or None when empty, this Ember's)."""
    catalog = Catalog(default_url(conf))
    try:
        return catalog.revision(), schema.HEAD
    finally:
        catalog.close()


def open_catalogue(conf) -> None:
    """Open the configured catalogue as every service does (migrating it unless
    ``[database] auto_migrate`` is off) and close it: a start-up check."""
    Catalog.open(conf).close()
