"""What every ``ember`` command shares: one-line errors, ``k=v`` options and column
formatting in OpenStackClient's style.

Guarantees: a command never lets a traceback reach the user without ``--debug``; every
error it raises is an :class:`ember.errors.EmberError` whose message is one line (the
app prints it as ``ember: <message>`` and exits 1); a malformed command line prints one
line and exits 2.
"""

from __future__ import annotations

import argparse

from cliff import columns as cliff_columns
from cliff import command, lister, show
from oslo_config import cfg

from ember import entrypoints, errors
from ember.config import explain, one_line


# --- column formatters (osc-lib's DictColumn / ListColumn, without depending on it) ----
class DictColumn(cliff_columns.FormattableColumn):
    """A dict: ``a='1', b='2'`` in tables, the dict itself in json/yaml."""

    def human_readable(self) -> str:
        return ", ".join("%s='%s'" % (k, v) for k, v in sorted((self._value or {}).items()))

    def machine_readable(self):
        return dict(self._value or {})


class ListColumn(cliff_columns.FormattableColumn):
    """A list: ``a, b`` in tables, the list itself in json/yaml."""

    def human_readable(self) -> str:
        return ", ".join(str(v) for v in (self._value or []))

    def machine_readable(self):
        return list(self._value or [])


class SizeColumn(cliff_columns.FormattableColumn):
    """A size: exact with its unit in tables (``64 MiB``, ``10 GiB``), so a 64 MiB and a
    128 MiB volume do not both show ``1``; OpenStackClient's whole GiB in json/yaml/value.
    The value is ``(size in GiB, size in bytes or None)``."""

    UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")

    def human_readable(self) -> str:
        gib, size_bytes = self._value
        if not size_bytes:
            return "" if gib is None else "%s GiB" % gib
        value, unit = float(size_bytes), "bytes"
        for name in self.UNITS:
            if value < 1024:
                break
            value, unit = value / 1024, name
        return "%s %s" % (("%d" % value) if value == int(value) else ("%.1f" % value), unit)

    def machine_readable(self):
        return self._value[0]


def size_column(record: dict) -> SizeColumn:
    """The ``Size`` cell of a volume, snapshot or backup record."""
    return SizeColumn((record.get("size"), record.get("size_bytes")))


# --- argument parsing -----------------------------------------------------------------
class KeyValueAction(argparse.Action):
    """``--property k=v`` (repeatable) into a dict; a value without ``=`` is an error."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest, None) or {}
        key, sep, value = values.partition("=")
        if not sep or not key:
            parser.error("%s expects KEY=VALUE, got %r" % (option_string, values))
        current[key] = value
        setattr(namespace, self.dest, current)


def _one_line_error(parser: argparse.ArgumentParser):
    def error(message: str):
        parser.exit(2, "%s: error: %s (see '%s --help')\n"
                    % (parser.prog, one_line(message), parser.prog))
    return error


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` report a bad command line in one line instead of usage + error."""
    parser.error = _one_line_error(parser)
    return parser


# --- commands -------------------------------------------------------------------------
class EmberCommandMixin:
    """Commands implement ``act(parsed_args)``; this turns anything they raise into a
    one-line :class:`EmberError` (the original is chained for ``--debug``)."""

    def get_parser(self, prog_name):
        return one_line_errors(super().get_parser(prog_name))

    def _load_hooks(self):
        """cliff's command hooks (entry-point group ``ember.cli.<command>``), looked up
        in the metadata already read: cliff asks stevedore for each command, whose
        cache of every group costs more than the command when there are none."""
        if self.cmd_name and entrypoints.group(
                "%s.%s" % (self.app.command_manager.namespace,
                           self.cmd_name.replace(" ", "_"))):
            return super()._load_hooks()
        self._hooks = []

    def get_epilog(self):
        """cliff's epilog without its "provided by the X plugin" line for Ember's own
        commands: finding a command's distribution maps every installed file to its
        distribution (~0.1 s on each run); a plugin's command keeps cliff's line."""
        if type(self).__module__.partition(".")[0] != "ember":
            return super().get_epilog()
        parts = [self._epilog or ""]
        parts.extend(e for h in self._hooks
                     if h.obj is not None and (e := h.obj.get_epilog()) is not None)
        return "\n\n".join(parts)

    #: True for a command that only reads the catalogue (lists and shows): a bad
    #: backup_driver is then a warning, not an error, since no driver is needed
    catalogue_only = False

    @property
    def service(self):
        return self.app.service_for(repository=not self.catalogue_only)

    @property
    def context(self):
        return self.app.context

    def quickly(self, operation: str, *args, **kwargs):
        """``ember.service.quick``'s answer to ``operation`` (None: ask ``self.service``) for a
        catalogue-only command, before the whole service is built."""
        if self.app._service is not None:  # built already (interactive mode): use it
            return None
        from ember.service import quick

        self.app.check_driver(repository=False)
        return getattr(quick, operation)(self.app.conf, self.context, *args, **kwargs)

    def take_action(self, parsed_args):
        try:
            return self.act(parsed_args)
        except errors.EmberError as exc:
            message = str(exc)
            if "\n" in message or not message:
                raise type(exc)(one_line(exc) or type(exc).__name__) from exc
            raise
        except cfg.Error as exc:
            raise errors.ConfigError(explain(exc)) from exc
        except Exception as exc:
            raise errors.EmberError(
                "unexpected %s: %s (run with --debug for the traceback)"
                % (type(exc).__name__, one_line(exc) or "no message")) from exc

    def act(self, parsed_args):  # pragma: no cover - every command overrides it
        raise NotImplementedError


class Command(EmberCommandMixin, command.Command):
    """A command with no tabular output."""


class Lister(EmberCommandMixin, lister.Lister):
    """A command printing rows (``-f table|csv|json|yaml|value``, ``-c``)."""


class ShowOne(EmberCommandMixin, show.ShowOne):
    """A command printing one record (``-f table|json|yaml|value|shell``, ``-c``)."""


def show_columns(record: dict, formatters: dict | None = None):
    """``(names, values)`` of a record with sorted keys, as OpenStackClient's ``show``."""
    formatters = formatters or {}
    names = tuple(sorted(record))
    values = tuple(formatters[n](record[n]) if n in formatters else record[n] for n in names)
    return names, values


def each(items, action, what: str, verb: str, log) -> None:
    """Apply ``action`` to every item as OpenStackClient does for ``delete A B C``:
    keep going after a failure, log each failure, then fail once with a count. With a
    single item its own error is raised unchanged."""
    if len(items) == 1:
        action(items[0])
        return
    failures = 0
    for item in items:
        try:
            action(item)
        except errors.EmberError as exc:
            failures += 1
            log.error("Failed to %s %s with name or ID '%s': %s", verb, what, item,
                      one_line(exc))
    if failures:
        raise errors.EmberError("%d of %d %ss failed to %s." % (failures, len(items), what, verb))

