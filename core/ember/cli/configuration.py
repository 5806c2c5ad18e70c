"""``ember config check``: validate the configuration and reach the repository and the
catalogue without backing up, restoring or writing anything."""

from __future__ import annotations

import os

from oslo_config import cfg

from ember import errors
from ember.cli.base import Lister
from ember.config import explain, one_line

OK, WARNING, ERROR = "ok", "warning", "error"


class CheckConfig(Lister):
    """Check the configuration, the driver, the repository and the catalogue.

    Reads the configuration files (naming every option and section nothing registered),
    loads the backup driver and its options, checks the object and SHA block sizes,
    reaches the repository and connects to the catalogue. Nothing is backed up, written
    or migrated. Exits 1 when any check fails."""

    def act(self, parsed_args):
        self.app.warn_unregistered = False  # they are rows of this command's table
        self._failed = False
        rows = []

        def check(name, step):
            """Run ``step`` (returns its detail); a raised error is the row's detail and
            skips the checks that depend on it."""
            try:
                rows.append((name, OK, step()))
                return True
            except (errors.EmberError, OSError, cfg.Error, ValueError) as exc:
                rows.append((name, ERROR, explain(exc)))
                self._failed = True
                return False

        found = []

        from ember import config_lint

        def configuration():
            conf = self.app.conf
            found.extend(config_lint.findings(conf))
            files = config_lint.files_read(conf)
            return ", ".join(files) if files else "no file: the embedded defaults"

        if not check("configuration", configuration):
            return self._table(rows)
        titles = {config_lint.Unregistered: "unknown name",
                  config_lint.InlineComment: "comment in a value",
                  config_lint.BorrowedStatePath: "state_path"}
        rows += [(titles[type(item)], WARNING, item.message()) for item in found]
        conf, state = self.app.conf, {}

        from ember.service import setup

        def driver_choice():
            name = setup.check_driver_choice(conf)
            return "%s (%s)" % (name, setup.driver_distribution(name) or "installed")

        def driver_options():
            state["driver"] = setup.load_checked_driver(conf)
            return "every option of %s has a valid value" % state["driver"].name

        def sizes():
            return ("%d-byte objects, %d-byte SHA blocks, %s compression"
                    % setup.engine_sizes(state["driver"], conf))

        def repository():
            setup.check_repository(state["driver"])
            return "%s is reachable" % state["driver"].describe()

        if check("backup_driver", driver_choice) and check("driver options", driver_options):
            check("object sizes", sizes)
            check("repository", repository)
        check("catalogue", lambda: _catalogue(conf))
        return self._table(rows)

    @staticmethod
    def _table(rows):
        return ("Check", "Result", "Detail"), rows

    def run(self, parsed_args):
        self._failed = False
        result = super().run(parsed_args)
        return 1 if self._failed else result


def _catalogue(conf) -> str:
    """Connect to ``[database] connection`` and ask nothing of it (SQLite: say whether
    the file exists; it is created by the first command that needs it)."""
    import sqlalchemy as sa

    url = conf.database.connection
    if not url:
        path = os.path.join(conf.state_path, "ember.sqlite")
        return "SQLite %s (%s)" % (path, "exists" if os.path.exists(path)
                                   else "created by the first command")
    try:
        shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        raise errors.ConfigError("[database] connection is not a SQLAlchemy URL") from None
    try:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        raise errors.ConfigError("cannot connect to %s: %s" % (
            shown, one_line(getattr(exc, "orig", None) or exc))) from None
    return "%s answers" % shown
