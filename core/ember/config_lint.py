"""Options and sections in configuration files that nothing registered (a typo check),
and values that carry a comment.

oslo.config ignores a name it does not know, so ``backup_posix_pth = /srv/backup`` or a
``[defualt]`` section would silently leave the default in force. :func:`unregistered`
reads the files Ember read and names every option and section that no installed Ember
distribution (nor oslo.messaging or oslo.policy, whose sections Ember uses) registers.

A ``cinder.conf`` holds hundreds of Cinder's own names; there only the names that look
like a misspelling of one of Ember's are reported.

oslo.config keeps ``value  # comment`` whole: the comment becomes part of the value, so
``auth_strategy = noauth  # or keystone`` is refused and, worse, a path option takes a
path that does not exist. :func:`inline_comments` names every such value.
"""

from __future__ import annotations

import difflib
import glob
import os
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points

from oslo_config import cfg, iniparser

#: option namespaces of libraries whose sections an Ember configuration may hold
LIBRARY_NAMESPACES = ("oslo.messaging", "oslo.policy")
#: how close an unknown name must be to a known one to be called a misspelling of it
CLOSE = 0.8
#: the "path" of a name read from an ``OS_<GROUP>__<OPTION>`` variable
ENVIRONMENT = "environment:"


@dataclass(frozen=True)
class Unregistered:
    """One unknown name: an option (``option`` set) or a whole section."""

    path: str
    section: str
    option: str | None
    suggestion: str | None

    def message(self) -> str:
        hint = "; did you mean %s?" % self.suggestion if self.suggestion else ""
        if self.path.startswith(ENVIRONMENT):
            return "unknown variable %s is ignored%s" % (self.path[len(ENVIRONMENT):], hint)
        if self.option is None:
            return "unknown section [%s] in %s is ignored%s" % (self.section, self.path, hint)
        return "unknown option %s in [%s] of %s is ignored%s" % (
            self.option, self.section, self.path, hint)


@dataclass(frozen=True)
class InlineComment:
    """A value holding `` #``: a comment oslo.config keeps as part of the value."""

    path: str
    section: str
    option: str
    value: str

    def message(self) -> str:
        return ("[%s] %s in %s has a comment in its value (%r): oslo.config keeps the "
                "text after ' #' as part of the value; put the comment on its own line"
                % (self.section, self.option, self.path, self.value))


class _Names(iniparser.BaseParser):
    """The (section, option) names of one file, in order, and the values."""

    def __init__(self):
        super().__init__()
        self.section = None
        self.found: list[tuple[str, str | None]] = []
        self.values: list[tuple[str, str, str]] = []

    def new_section(self, section):
        self.section = section
        self.found.append((section, None))

    def assignment(self, key, value):
        self.found.append((self.section, key))
        self.values += [(self.section, key, line) for line in value]

    def parse_exc(self, msg, lineno, line=None):  # unparsable files are config.load's job
        return ValueError(msg)


def files_read(conf: cfg.ConfigOpts) -> list[str]:
    """The configuration files ``conf`` was loaded from, in order."""
    paths = list(conf.config_file or conf.default_config_files or [])
    dirs = conf.config_dir or conf.default_config_dirs or []
    for directory in [dirs] if isinstance(dirs, str) else dirs:
        paths += sorted(glob.glob(os.path.join(directory, "*.conf")))
    return paths


def _parsed(conf: cfg.ConfigOpts) -> list[tuple[str, _Names]]:
    """(path, its names and values) of every file ``conf`` read that parses."""
    parsed = []
    for path in files_read(conf):
        parser = _Names()
        try:
            with open(path, encoding="utf-8") as f:
                parser.parse(f)
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        parsed.append((path, parser))
    return parsed


def inline_comments(conf: cfg.ConfigOpts) -> list[InlineComment]:
    """Every value of the files ``conf`` read that holds `` #`` or a tab before ``#``
    (a cinder.conf's too: Ember reads its backup options)."""
    return [InlineComment(path, section, option, value)
            for path, parser in _parsed(conf)
            for section, option, value in parser.values
            if " #" in value or "\t#" in value]


@dataclass(frozen=True)
class BorrowedStatePath:
    """``state_path`` read from a file that also names a database: a cinder.conf."""

    path: str
    state_path: str

    def message(self) -> str:
        return ("state_path %s comes from %s, which also names Cinder's database: Ember "
                "would keep its volumes and catalogue in Cinder's state directory; give "
                "Ember its own state_path in a later --config-file (or "
                "OS_DEFAULT__STATE_PATH)" % (self.state_path, self.path))


def borrowed_state_path(conf: cfg.ConfigOpts) -> list[BorrowedStatePath]:
    """The file ``state_path`` came from, when that file names Cinder's database: it
    sets ``[database] connection`` and is a cinder.conf, or a later file replaced its
    connection (``--config-file cinder.conf --config-file ember.conf`` with Ember's own
    database but not its own state_path)."""
    where = getattr(conf.get_location("state_path"), "detail", None)
    database = getattr(conf.get_location("connection", "database"), "detail", None)
    for path, parser in _parsed(conf):
        names_database = any(section.lower() == "database" and option == "connection"
                             for section, option, _ in parser.values)
        if path == where and names_database and (
                os.path.basename(path) == "cinder.conf" or database != path):
            return [BorrowedStatePath(path, conf.state_path)]
    return []


def findings(conf: cfg.ConfigOpts) -> list:
    """Everything to warn about in the files ``conf`` read and the environment (each has
    ``message()``)."""
    return (unregistered(conf) + unregistered_environment(conf) + inline_comments(conf)
            + borrowed_state_path(conf))


def unregistered_environment(conf: cfg.ConfigOpts, environ=None) -> list[Unregistered]:
    """Every ``OS_<GROUP>__<OPTION>`` variable that names no option, with the variable
    it was probably meant to be (oslo.config ignores it silently). A group Ember does
    not know is reported only when it looks like a misspelling of one it does (a
    library's group, such as keystone_authtoken, has options nothing lists up front)."""
    environ = os.environ if environ is None else environ
    names = [(name, group, option) for name in sorted(environ)
             if name.startswith("OS_") and "__" in name
             for group, _, option in [name[3:].partition("__")] if group and option]
    known = _known_for(_registered(conf), [(_section(g), o.lower()) for _, g, o in names])
    result = []
    for name, group, option in names:
        section, option = _section(group), option.lower()
        if _known(known, section, option):
            continue
        if not _known(known, section, None):
            close = _suggest(known, section, None)
            if close is None:
                continue
            hint = "OS_%s__%s" % (close.strip("[]").upper(), option.upper())
        else:
            close = _suggest(known, section, option)
            hint = close and "OS_%s__%s" % (group, close.upper())
        result.append(Unregistered(ENVIRONMENT + name, section, option, hint or None))
    return result


def _section(group: str) -> str:
    return "DEFAULT" if group == "DEFAULT" else group.lower()


def unregistered(conf: cfg.ConfigOpts) -> list[Unregistered]:
    """Every unknown option and section of the files ``conf`` read."""
    found = [(path, section, option) for path, parser in _parsed(conf)
             for section, option in parser.found]
    known = _known_for(_registered(conf), [(s, o) for _, s, o in found])
    result = []
    for path, section, option in found:
        if _known(known, section, option):
            continue
        if option is not None and not _known(known, section, None):
            continue  # its section is reported once, not each of its options
        suggestion = _suggest(known, section, option)
        if os.path.basename(path) == "cinder.conf" and suggestion is None:
            continue  # one of Cinder's own names
        result.append(Unregistered(path, section, option, suggestion))
    return result


def _known(known: dict, section: str, option: str | None) -> bool:
    group = "DEFAULT" if section == "DEFAULT" else section.lower()
    if group not in known:
        return False
    return option is None or option.replace("-", "_") in known[group]


def _suggest(known: dict, section: str, option: str | None) -> str | None:
    if option is None:  # section names are matched ignoring case: [Default], [defualt]
        by_lower = {name.lower(): name for name in known}
        close = difflib.get_close_matches(section.lower(), list(by_lower), 1, CLOSE)
        return "[%s]" % by_lower[close[0]] if close else None
    group = "DEFAULT" if section == "DEFAULT" else section.lower()
    close = difflib.get_close_matches(option, sorted(known.get(group, ())), 1, CLOSE)
    return close[0] if close else None


def _registered(conf: cfg.ConfigOpts) -> dict:
    """{group name: option names} of what is registered on ``conf`` right now."""
    names = {"DEFAULT": set()}
    for name in list(conf):
        try:
            value = conf[name]
        except (cfg.Error, ValueError):
            names["DEFAULT"].add(name)
            continue
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            names.setdefault(name, set()).update(value)
        else:
            names["DEFAULT"].add(name)
    return _with_deprecated_names(conf, names)


def _with_deprecated_names(conf, names: dict) -> dict:
    # oslo.config still reads an option under its deprecated names
    for group, opts in list(conf._groups.items()) + [("DEFAULT", None)]:  # noqa: SLF001
        source = conf._opts if opts is None else opts._opts  # noqa: SLF001
        for info in source.values():
            _add_deprecated(names, info["opt"], group)
    return names


def _add_deprecated(names: dict, opt, group: str) -> None:
    for old in getattr(opt, "deprecated_opts", None) or []:
        old_group = old.group or group
        old_group = "DEFAULT" if old_group == "DEFAULT" else old_group.lower()
        names.setdefault(old_group, set()).add((old.name or opt.name).replace("-", "_"))


def _known_for(registered: dict, wanted: list) -> dict:
    """The names to judge the ``wanted`` (section, option) pairs by: what is registered
    now; if some are not, also every installed Ember distribution's options (a few ms:
    a driver's options in the environment or a file, before the driver loads); if some
    still are not, also the libraries' (oslo.messaging's import costs a quarter second,
    which a command should pay only for a name that may be a misspelling)."""
    known = registered
    for libraries in (False, True):
        if all(_known(known, s, o) for s, o in wanted):
            break
        known = _all_known(registered, libraries)
    return known


def _all_known(registered: dict, libraries: bool = True) -> dict:
    """What is registered now plus what every installed Ember distribution and (with
    ``libraries``) the libraries of LIBRARY_NAMESPACES would register (their option
    lists are imported)."""
    known = {group: set(opts) for group, opts in registered.items()}
    for ep in entry_points(group="oslo.config.opts"):
        if not (ep.name == "ember" or ep.name.startswith("ember.")
                or (libraries and ep.name in LIBRARY_NAMESPACES)):
            continue
        try:
            with warnings.catch_warnings():  # oslo.messaging's imports warn about eventlet
                warnings.simplefilter("ignore")
                listed = ep.load()()
        except Exception:  # noqa: BLE001 - a broken plugin is reported when it loads
            continue
        for group, opts in listed:
            name = getattr(group, "name", group) or "DEFAULT"
            name = "DEFAULT" if name == "DEFAULT" else name.lower()
            for opt in opts:
                known.setdefault(name, set()).add(opt.dest)
                _add_deprecated(known, opt, name)
    return known
