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
    """Calls hooks by name; a subscriber's exception is logged, never raised."""

    def __init__(self, pm: pluggy.PluginManager | None = None):
        self.pm = pm or plugin_manager(load_entry_points=False)

    def call(self, name: str, **kwargs) -> None:
        caller = getattr(self.pm.hook, name)
        for impl in caller.get_hookimpls():
            try:
                impl.function(**{a: kwargs[a] for a in impl.argnames if a in kwargs})
            except Exception:  # an observer must never fail the operation
                LOG.exception("hook %s of %s failed", name, impl.plugin_name)
