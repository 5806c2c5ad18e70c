"""The service tells hook subscribers about each operation and its progress."""

import pytest
from ember import errors
from ember.context import RequestContext
from ember.hooks import Hooks, hookimpl, plugin_manager
from ember.service import Ember
from ember.testing.memory import MemoryBackupDriver

ADMIN = RequestContext.default()


class Recorder:
    def __init__(self):
        self.events = []

    @hookimpl
    def ember_operation_start(self, operation, backup, volume):
        self.events.append(("start", operation, backup["status"], volume and volume["status"]))

    @hookimpl
    def ember_operation_end(self, operation, backup, error):
        self.events.append(("end", operation, backup["status"],
                            type(error).__name__ if error else None))

    @hookimpl
    def ember_progress(self, operation, percent):
        self.events.append(("progress", operation, percent))


@pytest.fixture
def recorded(conf, store):
    recorder = Recorder()
    hooks = Hooks(plugin_manager(recorder, load_entry_points=False))
    return Ember(conf, driver=MemoryBackupDriver(conf, store=store), hooks=hooks), recorder


def test_lifecycle_and_progress_events(recorded, tools):
    service, recorder = recorded
    vol = service.create_volume(ADMIN, "v", size="4M")
    tools.write(vol["path"], 0, b"x" * 100000)
    backup = service.create_backup(ADMIN, "v")
    service.restore_backup(ADMIN, backup["id"], name="r")
    service.reset_backup_status(ADMIN, backup["id"], "error")
    service.delete_backup(ADMIN, backup["id"])

    lifecycle = [e for e in recorder.events if e[0] != "progress"]
    assert lifecycle == [
        ("start", "backup.create", "creating", "backing-up"),
        ("end", "backup.create", "available", None),
        ("start", "backup.restore", "restoring", "restoring-backup"),
        ("end", "backup.restore", "available", None),
        ("start", "backup.reset_status", "available", None),
        ("end", "backup.reset_status", "error", None),
        ("start", "backup.delete", "deleting", None),
        ("end", "backup.delete", "deleted", None),
    ]
    for operation in ("backup.create", "backup.restore"):
        percents = [e[2] for e in recorder.events if e[0] == "progress" and e[1] == operation]
        assert percents and percents == sorted(percents) and percents[-1] == 100.0


def test_failed_operation_ends_with_its_error(recorded):
    service, recorder = recorded
    service.create_volume(ADMIN, "v", size="4M")
    service.conf.set_override("backup_create_containers", False)
    with pytest.raises(errors.ContainerNotFound):
        service.create_backup(ADMIN, "v")
    assert recorder.events[-1] == ("end", "backup.create", "error", "ContainerNotFound")


class Ordered:
    """Three subscribers registered first-to-last; pluggy calls the last registered
    first, unless ``tryfirst``/``trylast`` say otherwise."""

    def __init__(self, calls):
        self.calls = calls


def test_pluggy_orders_the_calls_tryfirst_first_and_runs_wrappers():
    calls = []

    class Plain(Ordered):
        @hookimpl
        def ember_operation_start(self, operation):
            self.calls.append("plain")

    class First(Ordered):
        @hookimpl(tryfirst=True)
        def ember_operation_start(self, operation):
            self.calls.append("tryfirst")

    class Last(Ordered):
        @hookimpl(trylast=True)
        def ember_operation_start(self, operation):
            self.calls.append("trylast")

    class Around(Ordered):
        @hookimpl(wrapper=True)
        def ember_operation_start(self, operation):
            self.calls.append("wrapper before " + operation)
            result = yield
            self.calls.append("wrapper after")
            return result

    # registered in an order that pluggy's own rules must overrule
    hooks = Hooks(plugin_manager(First(calls), Last(calls), Plain(calls), Around(calls),
                                 load_entry_points=False))
    hooks.call("ember_operation_start", operation="backup.create", backup={}, volume=None,
               context=ADMIN)
    assert calls == ["wrapper before backup.create", "tryfirst", "plain", "trylast",
                     "wrapper after"]


def test_a_failing_subscriber_is_logged_and_never_fails_the_operation(caplog):
    class Broken:
        @hookimpl
        def ember_operation_start(self, operation):
            raise RuntimeError("observer bug")

    hooks = Hooks(plugin_manager(Broken(), load_entry_points=False))
    hooks.call("ember_operation_start", operation="backup.create", backup={}, volume=None,
               context=ADMIN)
    assert "a subscriber of hook ember_operation_start failed" in caplog.text
    assert "observer bug" in caplog.text
