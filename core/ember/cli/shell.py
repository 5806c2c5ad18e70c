"""The ``ember`` application: global options, configuration, request context, errors.

Global options (all before the command, as in ``openstack``):

* ``--config-file PATH`` / ``--config-dir DIR`` (repeatable): see :mod:`ember.config`;
* ``--os-project-id``, ``--os-user-id``, ``--os-roles admin,member,reader`` (defaults
  from ``OS_PROJECT_ID``, ``OS_USER_ID``, ``OS_ROLES``; without any of them the caller is
  the single user: an admin in project ``default``);
* cliff's ``-v``/``-q``, ``--log-file``, ``--debug`` (tracebacks on errors).

The configuration and the service are built on first use, so ``ember --help`` and
``ember help CMD`` work without a catalogue or a readable configuration. Start-up stays
cheap: a command's module is imported only when it runs (or ``--help`` lists it), and
command modules import the service stack inside ``act`` (``tests/cli/test_startup.py``
checks what ``--help`` and ``volume list`` import).
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
from importlib import metadata

from cliff import app, commandmanager
from cliff import command as cli_command

from ember import config, entrypoints, errors
from ember.cli.base import one_line_errors
from ember.context import RequestContext

COMMAND_GROUP = "ember.cli"
DEFAULT_ROLES = ",".join(RequestContext().roles)


class LazyCommandManager(commandmanager.CommandManager):
    """cliff's CommandManager without importing every command module at start-up.

    cliff lists a group through stevedore, which imports each entry point's module;
    here only the entry point metadata is read, and a command's module is imported
    when that command runs (``find_command`` loads the one it found) or when
    ``--help`` lists the commands. A name defined twice keeps the first one found.
    """

    def load_commands(self, namespace: str) -> None:
        self.group_list.append(namespace)
        for entry_point in entrypoints.group(namespace):
            name = entry_point.name.replace("_", " ") if self.convert_underscores \
                else entry_point.name
            if self._is_module_ignored(entry_point.value.partition(":")[0],
                                       self.ignored_modules):
                continue
            if name in self.commands:
                logging.getLogger(__name__).warning(
                    "ember command %r is defined twice (%s and %s); using the first",
                    name, self.commands[name].value, entry_point.value)
                continue
            self.commands[name] = entry_point


def _name_command_distributions(manager) -> None:
    """Tell cliff which distribution provides each command's package, from the entry
    points already read: ``ember --help`` names a plugin's commands' distribution, and
    cliff would otherwise map every file of every installed distribution to find out
    (``packages_distributions``: 0.1-0.2 s, most of ``--help``)."""
    known = {"ember": "ember-backup"}  # the application's own package
    for _, entry_point in manager:
        if getattr(entry_point, "dist", None) is not None:
            known.setdefault(entry_point.module.partition(".")[0], entry_point.dist.name)
    if getattr(cli_command, "_dists_by_mods", False) is None:  # not computed yet
        cli_command._dists_by_mods = known


def _version() -> str:
    try:
        return metadata.version("ember-backup")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "unknown"


class EmberApp(app.App):
    """cliff application; errors are printed as ``ember: <message>``."""

    NAME = "ember"
    LOG = logging.getLogger("ember")
    CONSOLE_MESSAGE_FORMAT = "ember: %(message)s"

    def __init__(self):
        super().__init__(
            description="Back up and restore block volumes into Cinder-format repositories.",
            version=_version(),
            command_manager=LazyCommandManager(COMMAND_GROUP),
            deferred_help=True,
        )
        _name_command_distributions(self.command_manager)
        self._conf = None
        self._service = None
        self._driver_checked = self._driver_warned = False
        #: warn about unknown names in the configuration files when loading them
        #: (``config check`` lists them itself)
        self.warn_unregistered = True

    def build_option_parser(self, description, version, argparse_kwargs=None):
        parser = super().build_option_parser(description, version, argparse_kwargs)
        parser.add_argument(
            "--config-file", metavar="PATH", action="append", default=[],
            help="Configuration file to read (repeatable; later files win). Default: the "
                 "first ember.conf in ~/.config/ember, ~/.ember, ~, /etc/ember, /etc.")
        parser.add_argument(
            "--config-dir", metavar="DIR", action="append", default=[],
            help="Directory of *.conf files read after the config files (repeatable).")
        parser.add_argument(
            "--os-project-id", metavar="PROJECT", default=os.environ.get("OS_PROJECT_ID"),
            help="Project to act in (env OS_PROJECT_ID; default 'default').")
        parser.add_argument(
            "--os-user-id", metavar="USER", default=os.environ.get("OS_USER_ID"),
            help="User to act as (env OS_USER_ID; default 'admin').")
        parser.add_argument(
            "--os-roles", metavar="ROLES", default=os.environ.get("OS_ROLES"),
            help="Comma-separated roles (env OS_ROLES; default '%s')." % DEFAULT_ROLES)
        return one_line_errors(parser)

    def configure_logging(self):
        super().configure_logging()
        # cliff's default verbosity (1) shows INFO; keep libraries (alembic, stevedore)
        # quiet unless -v is given, so a command's stderr holds only what matters.
        if self.options.verbose_level <= 1:
            for handler in logging.getLogger("").handlers:
                if isinstance(handler, logging.StreamHandler) and handler.level < logging.WARNING:
                    handler.setLevel(logging.WARNING)

    # --- lazily built state ------------------------------------------------------------
    @property
    def conf(self):
        if self._conf is None:
            self._conf = config.load(self.options.config_file, self.options.config_dir,
                                     warn=self.warn_unregistered)
        return self._conf

    @property
    def context(self) -> RequestContext:
        defaults = RequestContext.default()
        roles = self.options.os_roles
        return RequestContext(
            user_id=self.options.os_user_id or defaults.user_id,
            project_id=self.options.os_project_id or defaults.project_id,
            roles=(tuple(r.strip() for r in roles.split(",") if r.strip())
                   if roles is not None else defaults.roles),
        )

    @property
    def service(self):
        return self.service_for(repository=True)

    def service_for(self, repository: bool):
        """The service; a misspelled or test-only backup_driver stops a command that
        may reach the repository before any work, and is only a warning for one that
        reads the catalogue (``volume list`` still works to see what is there)."""
        from ember.service import Ember  # imported late: SQLAlchemy, oslo.policy

        self.check_driver(repository)
        if self._service is None:
            self._service = Ember(self.conf)
        return self._service

    def check_driver(self, repository: bool) -> None:
        """``service_for``'s driver check (also before a ``quick`` read)."""
        from ember.service import setup

        conf = self.conf  # a bad configuration is an error for every command
        if not self._driver_checked:
            try:
                setup.check_driver_choice(conf)
                self._driver_checked = True
            except errors.EmberError as exc:
                if repository:
                    raise
                if not self._driver_warned:
                    self.LOG.warning("%s", config.one_line(exc))
                    self._driver_warned = True

    def run_subcommand(self, argv):
        """As cliff's, but an unknown command is one line on stderr (exit 2) with the
        closest command names, instead of a list on stdout."""
        try:
            self.command_manager.find_command(argv)
        except ValueError:
            self.stderr.write("ember: '%s' is not an ember command%s (see 'ember --help')\n"
                              % (" ".join(argv), self._suggest(argv)))
            return 2
        return super().run_subcommand(argv)

    def _suggest(self, argv) -> str:
        scored = []
        for name, _ in self.command_manager:
            typed = " ".join(argv[:len(name.split())])
            ratio = difflib.SequenceMatcher(None, typed, name).ratio()
            if ratio >= 0.75:
                scored.append((ratio, name))
        best = [name for _, name in sorted(scored, reverse=True)[:3]]
        return "; did you mean %s?" % " or ".join("'%s'" % n for n in best) if best else ""

    def progress(self, operation: str):
        """The ``progress(done_bytes, total_bytes)`` callback for a long ``operation``
        ("backup" or "restore"), or None: a bar on stderr when it is a terminal and the
        command is not ``-q``; the bar also hears the operation end, to close first."""
        if self.options.verbose_level < 1:
            return None
        from ember.cli import progressbar

        bar = progressbar.for_terminal(operation, self.stderr)
        if bar is not None:
            self.service.hooks.pm.register(bar)
        return bar

    def clean_up(self, cmd, result, err):
        if isinstance(err, KeyboardInterrupt):  # cliff then exits 130
            self.stderr.write("ember: %s\n" % (config.one_line(err) or "Interrupted."))
        close = getattr(self._service, "close", None)
        if close is not None:
            close()
            self._service = None


def main(argv=None) -> int:
    """Console entry point: run one command (or the interactive shell without one)."""
    try:
        return EmberApp().run(sys.argv[1:] if argv is None else argv)
    except errors.EmberError as exc:  # raised outside a command, e.g. during start-up
        print("ember: %s" % config.one_line(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
