"""ProgressReporter: Cinder's rates (every N objects, every T seconds), a true rising
percentage, 100 only on success, and a payload that does not grow."""

import pytest
from ember.hooks import Hooks, hookimpl, plugin_manager
from ember.progress import PROGRESS_FIELDS, ProgressReporter, progress_view

MiB = 1 << 20


class Recorder:
    def __init__(self):
        self.calls = []

    @hookimpl
    def ember_progress(self, operation, backup, done_bytes, total_bytes, percent):
        self.calls.append((operation, backup, done_bytes, total_bytes, percent))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def recorder():
    return Recorder()


def _reporter(recorder, *, every=10, timer=None, clock=None, forward=None, backup=None):
    hooks = Hooks(plugin_manager(recorder, load_entry_points=False))
    return ProgressReporter(hooks, "backup.create", backup or {"id": "b1"}, object_size=MiB,
                            every_objects=every, timer_interval=timer,
                            clock=clock or Clock(), forward=forward)


def test_reports_every_n_objects_of_bytes_then_100_on_finish(recorder):
    report = _reporter(recorder, every=10)
    total = 35 * MiB
    for objects in range(1, 36):
        report(objects * MiB, total)
    report.finish()
    assert [c[2] // MiB for c in recorder.calls] == [10, 20, 30, 35]
    assert [c[4] for c in recorder.calls] == [100 * 10 / 35, 100 * 20 / 35, 100 * 30 / 35,
                                              100.0]


def test_a_jump_over_several_multiples_reports_once(recorder):
    report = _reporter(recorder, every=10)
    report(25 * MiB, 100 * MiB)  # the engine reports at its own rate, not per object
    report(29 * MiB, 100 * MiB)
    report(30 * MiB, 100 * MiB)
    assert [c[2] // MiB for c in recorder.calls] == [25, 30]


def test_timer_reports_between_counts(recorder):
    clock = Clock()
    report = _reporter(recorder, every=1000, timer=120.0, clock=clock)
    report(1 * MiB, 100 * MiB)  # too early for the timer
    clock.now += 120
    report(2 * MiB, 100 * MiB)
    clock.now += 60
    report(3 * MiB, 100 * MiB)  # 60 s since the last report: not yet
    clock.now += 60
    report(4 * MiB, 100 * MiB)
    assert [c[2] // MiB for c in recorder.calls] == [2, 4]


def test_no_timer_reports_when_the_timer_is_off(recorder):
    clock = Clock()
    report = _reporter(recorder, every=1000, timer=None, clock=clock)
    for i in range(1, 10):
        clock.now += 500
        report(i * MiB, 100 * MiB)
    assert recorder.calls == []


def test_all_bytes_read_is_not_100_until_finish(recorder):
    # the engine has read everything but still writes _sha256file and _metadata: a
    # cancel or failure now must not have been announced as 100 percent
    report = _reporter(recorder, every=1)
    report(4 * MiB, 8 * MiB)
    report(8 * MiB, 8 * MiB)
    assert [c[4] for c in recorder.calls] == [50.0]
    report.finish()
    report.finish()
    assert [c[4] for c in recorder.calls] == [50.0, 100.0]


def test_done_bytes_strictly_rise(recorder):
    report = _reporter(recorder, every=1)
    for done in (3, 2, 3, 5, 5, 4, 7):
        report(done * MiB, 10 * MiB)
    assert [c[2] // MiB for c in recorder.calls] == [3, 5, 7]


def test_forward_gets_every_engine_call_unthrottled(recorder):
    seen = []
    report = _reporter(recorder, every=10, forward=lambda d, t: seen.append((d, t)))
    for done in (1, 2, 3):
        report(done * MiB, 10 * MiB)
    assert seen == [(MiB, 10 * MiB), (2 * MiB, 10 * MiB), (3 * MiB, 10 * MiB)]
    assert recorder.calls == []


def test_backup_payload_is_the_same_small_dict_whatever_the_object_count(recorder):
    asked = []

    def lookup():
        asked.append(1)
        return progress_view({"id": "b1", "objects": ["x"] * 10000, "status": "creating"})

    report = _reporter(recorder, every=1, backup=lookup)
    for done in range(1, 200):
        report(done * MiB, 200 * MiB)
    report.finish()
    payloads = [c[1] for c in recorder.calls]
    assert len(payloads) == 200 and asked == [1]
    assert all(p is payloads[0] for p in payloads)
    assert sorted(payloads[0]) == sorted(PROGRESS_FIELDS) and "objects" not in payloads[0]


@pytest.mark.parametrize("core_timer, driver_timer, expect", [
    (True, True, [3, 5]), (True, False, [5]), (False, True, [5])])
def test_timer_needs_both_the_core_and_the_driver_option(recorder, core_timer, driver_timer,
                                                         expect):
    from ember.layout import Layout
    from ember.testing.config import make_conf

    layout = Layout(cinder_service="x", object_size=MiB, sha_block_size=4096,
                    progress_timer=driver_timer)

    conf = make_conf(backup_timer_interval=30, backup_object_number_per_notification=5,
                     backup_enable_progress_timer=core_timer)
    clock = Clock()
    hooks = Hooks(plugin_manager(recorder, load_entry_points=False))
    report = ProgressReporter.for_layout(hooks, "backup.restore", {}, conf, layout,
                                         clock=clock)
    for objects in range(1, 6):
        clock.now += 10
        report(objects * MiB, 100 * MiB)
    assert [c[2] // MiB for c in recorder.calls] == expect
    assert {c[0] for c in recorder.calls} == {"backup.restore"}
