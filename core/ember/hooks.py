"""The hook manager: loads subscribers and calls them without letting them fail an operation."""

from __future__ import annotations

import logging

import pluggy

from ember import hookspecs

LOG = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "ember.hooks"
hookimpl = pluggy.HookimplMarker("ember")


def plugin_manager(*plugins, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A manager with Ember's specs, the given subscriber objects and (by default) every
    plugin published under ``ember.hooks``. Rejects implementations without a spec."""
    pm = pluggy.PluginManager("ember")
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    return pm


class Hooks:
    """Calls hooks through pluggy (``pm.hook.<name>(...)``), so pluggy's own ordering
    holds: ``tryfirst``/``trylast`` and ``wrapper=True`` (new-style wrappers) work as its
    documentation says. An observer must never fail an operation: an exception from a
    subscriber is logged and swallowed, and the subscribers pluggy would have called
    after it miss that one event."""

    def __init__(self, pm: pluggy.PluginManager | None = None):
        self.pm = pm or plugin_manager(load_entry_points=False)

    def call(self, name: str, **kwargs) -> None:
        try:
            getattr(self.pm.hook, name)(**kwargs)
        except Exception:  # an observer must never fail the operation
            LOG.exception("a subscriber of hook %s failed", name)
