"""Loading Ember's configuration: files, directories and the environment.

Where values come from, lowest precedence first:

1. the option defaults (``ember.opts``; the embedded default needs no file at all);
2. one ``ember.conf``: the explicit ``--config-file`` options if any were given,
   otherwise the first found of ``$XDG_CONFIG_HOME/ember/ember.conf``
   (``~/.config/ember/``), ``~/.ember/``, ``~/``, ``/etc/ember/``, ``/etc/``
   (oslo.config's search list with the XDG location in front);
3. ``*.conf`` in ``--config-dir`` directories, or in ``ember.conf.d`` beside the
   configuration found in 2;
4. the environment: ``OS_<GROUP>__<OPTION>``, e.g. ``OS_DEFAULT__BACKUP_DRIVER=memory``
   or ``OS_DATABASE__CONNECTION=postgresql+psycopg2://...`` (oslo.config's own source;
   a multi-valued option takes the variable as its one value, see
   :func:`whole_values_from_environment`).

Option names and sections are cinder.conf's, so ``--config-file /etc/cinder/cinder.conf``
picks up an operator's backup settings; options and sections nothing registered are
ignored with a warning each (:mod:`ember.config_lint`).
Plugins register their options when their driver loads; their values are read then.
Every problem is raised as one :class:`ember.errors.ConfigError` line.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence

from oslo_config import cfg
from oslo_config.sources import _environment

from ember import errors, opts

PROJECT = "ember"
LOG = logging.getLogger(__name__)


def _xdg_config_dir() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, PROJECT)


def search_dirs() -> list[str]:
    """Directories searched for ``ember.conf``, in order; the first hit wins."""
    home = os.path.expanduser("~")
    return [_xdg_config_dir(), os.path.join(home, "." + PROJECT), home,
            os.path.join("/etc", PROJECT), "/etc"]


def default_config_files() -> list[str]:
    """The one ``ember.conf`` found in :func:`search_dirs` (an empty list if none)."""
    for directory in search_dirs():
        candidate = os.path.join(directory, PROJECT + ".conf")
        if os.path.isfile(candidate):
            return [candidate]
    return []


def default_config_dirs(config_files: Sequence[str]) -> list[str]:
    """``ember.conf.d`` beside the chosen ``ember.conf``, if that directory exists."""
    dirs = []
    for path in config_files:
        candidate = os.path.join(os.path.dirname(os.path.abspath(path)), PROJECT + ".conf.d")
        if os.path.isdir(candidate):
            dirs.append(candidate)
    return dirs


class _WholeValueEnvironment(_environment.EnvironmentConfigurationSource):
    """oslo.config's ``OS_<GROUP>__<OPTION>`` source, except that a multi-valued option
    (``MultiStrOpt``) gets the variable's value as its one value. oslo.config converts a
    multi-valued option by iterating over its value, so a string from the environment
    would become single characters (``messagingv2`` -> ``['m', 'e', ...]``)."""

    def get(self, group_name, option_name, opt):
        value, location = super().get(group_name, option_name, opt)
        if getattr(opt, "multi", False) and isinstance(value, str):
            value = [value]
        return value, location


def whole_values_from_environment(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    """Make ``conf`` read a multi-valued option from the environment as one value (e.g.
    ``OS_OSLO_MESSAGING_NOTIFICATIONS__DRIVER=messagingv2``); more than one value needs a
    configuration file. Options registered later (plugins, oslo.messaging) are covered
    too: the source is asked at read time. Returns ``conf``."""
    # oslo.config keeps its environment source in this attribute and offers no public
    # way to replace it; tests/cli/test_config.py fails if that ever changes
    if isinstance(getattr(conf, "_env_driver", None),
                  _environment.EnvironmentConfigurationSource):
        conf._env_driver = _WholeValueEnvironment()
    return conf


def load(config_files: Iterable[str] = (), config_dirs: Iterable[str] = (),
         conf: cfg.ConfigOpts | None = None, *, warn: bool = True) -> cfg.ConfigOpts:
    """Return a parsed ``ConfigOpts`` with the core options registered and checked.

    ``config_files`` / ``config_dirs`` are the user's explicit choices (``--config-file``,
    ``--config-dir``); when ``config_files`` is empty the search of the module docstring
    applies. Raises :class:`ember.errors.ConfigError` for a missing or unparsable file and
    for any core option whose value is invalid, naming the option and where it came from.
    With ``warn``, each option and section of the files that nothing registered is
    logged as one warning line.
    """
    conf = opts.register(conf if conf is not None else cfg.ConfigOpts())
    whole_values_from_environment(conf)
    files = [os.path.abspath(os.path.expanduser(f)) for f in config_files]
    dirs = [os.path.abspath(os.path.expanduser(d)) for d in config_dirs]
    for path in files:
        if not os.path.isfile(path):
            raise errors.ConfigError("config file %s not found; check the --config-file path"
                                     % path)
    for path in dirs:
        if not os.path.isdir(path):
            raise errors.ConfigError("config directory %s not found; check the --config-dir "
                                     "path" % path)
    defaults = files or default_config_files()
    try:
        conf([], project=PROJECT, default_config_files=defaults,
             default_config_dirs=dirs or default_config_dirs(defaults),
             use_env=True)
    except cfg.ConfigFileParseError as exc:
        raise errors.ConfigError("cannot parse config file %s: %s" % (exc.config_file, exc.msg))
    except cfg.Error as exc:
        raise errors.ConfigError(one_line(exc))
    check_values(conf)
    check_paths(conf)
    if warn:
        warn_unregistered(conf)
    return conf


def warn_unregistered(conf: cfg.ConfigOpts) -> None:
    """One warning line per option or section of the files read that nothing
    registered (a misspelling would otherwise leave the default silently in force),
    per value that holds a comment, and for a state_path borrowed from cinder.conf."""
    from ember import config_lint

    for item in config_lint.findings(conf):
        LOG.warning("%s", item.message())


def check_paths(conf: cfg.ConfigOpts) -> None:
    """Every ``backup_shared_volume_paths`` entry must be an existing directory: a
    missing one (a typo, a share not mounted, a comment kept in the value) would send
    work to workers that cannot see the volume."""
    for path in conf.backup_shared_volume_paths:
        if not os.path.isdir(path):
            raise errors.ConfigError(
                "backup_shared_volume_paths: %r is not an existing directory; mount the "
                "share there, or correct the path (a comment goes on its own line)" % path)


def check_values(conf: cfg.ConfigOpts) -> None:
    """Read every registered option once so a bad value fails now, in one line, rather
    than in the middle of a backup. Call it again after registering more options."""
    for group_name, name in _registered(conf):
        try:
            if group_name is None:
                conf[name]
            else:
                conf[group_name][name]
        except (cfg.Error, ValueError) as exc:
            raise errors.ConfigError(describe_bad_value(group_name, name, exc))


def describe_bad_value(group_name: str | None, name: str, exc: Exception) -> str:
    """``invalid value for [GROUP] NAME (from WHERE): REASON; fix it or remove it``."""
    section = group_name or "DEFAULT"
    message = one_line(exc)
    # oslo.config names the source only inside its message: "... from LocationInfo(
    # location=<Locations.user: ...>, detail='/etc/ember/ember.conf') is not valid: ..."
    source = re.search(r"detail='([^']+)'", message)
    where = " (from %s)" % source.group(1) if source else ""
    reason = message.rsplit("is not valid:", 1)[-1].strip()
    return "invalid value for [%s] %s%s: %s; fix it or remove it" % (section, name, where, reason)


def explain(exc: Exception) -> str:
    """One line for any oslo.config error, e.g. a plugin option with a bad value that
    surfaced when its driver loaded (the message then names the option, not its group)."""
    message = one_line(exc)
    bad = re.match(r"Value for option (\S+) ", message)
    if bad:
        source = re.search(r"detail='([^']+)'", message)
        reason = message.rsplit("is not valid:", 1)[-1].strip()
        return "invalid value for option %s%s: %s; fix it or remove it" % (
            bad.group(1), " (from %s)" % source.group(1) if source else "", reason)
    return message


def one_line(exc: BaseException) -> str:
    """The exception's message folded onto one line."""
    return " ".join(str(exc).split())


def _registered(conf: cfg.ConfigOpts):
    """(group name or None, option name) for every registered option."""
    for name in list(conf):
        try:
            value = conf[name]
        except (cfg.Error, ValueError):
            yield None, name  # an option whose value is bad; check_values reports it
            continue
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            for opt_name in list(value):
                yield name, opt_name
        else:
            yield None, name
