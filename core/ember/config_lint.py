"""Options and sections in configuration files that nothing registered: a typo check.

oslo.config ignores a name it does not know, so ``backup_posix_pth = /srv/backup`` or a
``[defualt]`` section would silently leave the default in force. :func:`unregistered`
reads the files Ember read and names every option and section that no installed Ember
distribution (nor oslo.messaging or oslo.policy, whose sections Ember uses) registers.

A ``cinder.conf`` holds hundreds of Cinder's own names; there only the names that look
like a misspelling of one of Ember's are reported.
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


@dataclass(frozen=True)
class Unregistered:
    """One unknown name: an option (``option`` set) or a whole section."""

    path: str
    section: str
    option: str | None
    suggestion: str | None

    def message(self) -> str:
        hint = "; did you mean %s?" % self.suggestion if self.suggestion else ""
        if self.option is None:
            return "unknown section [%s] in %s is ignored%s" % (self.section, self.path, hint)
        return "unknown option %s in [%s] of %s is ignored%s" % (
            self.option, self.section, self.path, hint)


class _Names(iniparser.BaseParser):
    """The (section, option) names of one file, in order, nothing else."""

    def __init__(self):
        super().__init__()
        self.section = None
        self.found: list[tuple[str, str | None]] = []

    def new_section(self, section):
        self.section = section
        self.found.append((section, None))

    def assignment(self, key, value):
        self.found.append((self.section, key))

    def parse_exc(self, msg, lineno, line=None):  # unparsable files are config.load's job
        return ValueError(msg)


def files_read(conf: cfg.ConfigOpts) -> list[str]:
    """The configuration files ``conf`` was loaded from, in order."""
    paths = list(conf.config_file or conf.default_config_files or [])
    dirs = conf.config_dir or conf.default_config_dirs or []
    for directory in [dirs] if isinstance(dirs, str) else dirs:
        paths += sorted(glob.glob(os.path.join(directory, "*.conf")))
    return paths


def unregistered(conf: cfg.ConfigOpts) -> list[Unregistered]:
    """Every unknown option and section of the files ``conf`` read."""
    found = []
    for path in files_read(conf):
        parser = _Names()
        try:
            with open(path, encoding="utf-8") as f:
                parser.parse(f)
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        found += [(path, section, option) for section, option in parser.found]
    registered = _registered(conf)
    if all(_known(registered, s, o) for _, s, o in found):
        return []  # the usual case: no plugin's options need importing to tell
    known = _all_known(registered)
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


def _all_known(registered: dict) -> dict:
    """What is registered now plus what every installed Ember distribution and the
    libraries of LIBRARY_NAMESPACES would register (their option lists are imported)."""
    known = {group: set(opts) for group, opts in registered.items()}
    for ep in entry_points(group="oslo.config.opts"):
        if not (ep.name == "ember" or ep.name.startswith("ember.")
                or ep.name in LIBRARY_NAMESPACES):
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
