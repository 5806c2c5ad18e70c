"""Test only: SIGKILL the ``ember`` process at its Nth *kill point*.

The crash tests put this directory first on ``PYTHONPATH`` of the ``ember``
subprocess; Python imports ``sitecustomize`` at start-up. Nothing in Ember itself knows
about it. Kill points, counted in the order they happen:

* before every driver call (``ensure_container``, ``list_objects``, ``get_object``,
  ``open_reader``, ``put_object``, ``open_writer``, ``delete_object``, each write to and
  the commit of a writer) and after every call that changes the repository;
* after every committed catalogue transaction (SQLAlchemy's ``after_commit``);
* while a temporary snapshot is being copied (the file made, its bytes not yet all
  there): once when the copy starts and once per extent copied.

``EMBER_TEST_KILL_AT=N`` kills the process with SIGKILL (no clean-up, no atexit, as
``kill -9`` or a power cut) at point N. ``EMBER_TEST_KILL_LOG=PATH`` makes a run that
is not killed write the labels of all the points it passed, one per line, at exit, so
a test can enumerate every point of an operation and then kill at each.
"""

import atexit
import os
import signal
import threading

_AT = int(os.environ.get("EMBER_TEST_KILL_AT") or 0)
_LOG = os.environ.get("EMBER_TEST_KILL_LOG")
_lock = threading.Lock()
_points = []


def _tick(label: str) -> None:
    with _lock:
        _points.append(label)
        if len(_points) == _AT:
            os.kill(os.getpid(), signal.SIGKILL)


def _write_log() -> None:
    with open(_LOG, "w") as f:
        f.write("".join(p + "\n" for p in _points))


def _install() -> None:
    import ember.loader
    from ember.wrappers import DriverWrapper
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    class _Writer:
        def __init__(self, inner, name):
            self._inner, self._name = inner, name

        def write(self, data):
            _tick("write " + self._name)
            return self._inner.write(data)

        def commit(self):
            _tick("before commit " + self._name)
            self._inner.commit()
            _tick("after commit " + self._name)

        def abort(self):
            return self._inner.abort()

        def __enter__(self):
            return self

        def __exit__(self, exc_type, exc, tb):
            if exc_type is None:
                self.commit()
            else:
                self.abort()

    class KillPoints(DriverWrapper):
        def ensure_container(self, container):
            _tick("ensure_container")
            self.inner.ensure_container(container)

        def list_objects(self, container, prefix=""):
            _tick("list_objects")
            return self.inner.list_objects(container, prefix)

        def get_object(self, container, name):
            _tick("get_object " + _short(name))
            return self.inner.get_object(container, name)

        def open_reader(self, container, name):
            _tick("open_reader " + _short(name))
            return self.inner.open_reader(container, name)

        def put_object(self, container, name, data):
            _tick("before put_object " + _short(name))
            self.inner.put_object(container, name, data)
            _tick("after put_object " + _short(name))

        def open_writer(self, container, name):
            _tick("open_writer " + _short(name))
            return _Writer(self.inner.open_writer(container, name), _short(name))

        def delete_object(self, container, name):
            _tick("before delete_object " + _short(name))
            self.inner.delete_object(container, name)
            _tick("after delete_object " + _short(name))

    load = ember.loader.load_driver

    def load_driver(*args, **kwargs):
        return KillPoints(load(*args, **kwargs))

    ember.loader.load_driver = load_driver
    event.listen(Session, "after_commit", lambda session: _tick("catalogue commit"))

    import ember.volumes

    extents = ember.volumes._data_extents

    def data_extents(fd, size):
        _tick("temporary snapshot copy")  # the copy's file exists, empty
        for extent in extents(fd, size):
            yield extent
            _tick("temporary snapshot copy")  # part of its bytes copied

    ember.volumes._data_extents = data_extents


def _short(name: str) -> str:
    """``-00003`` / ``_metadata`` / ``_sha256file``: the part after the prefix."""
    return name[name.rfind("_backup_") + 8 + 36:] if "_backup_" in name else name


if _AT or _LOG:
    _install()
    if _LOG:
        atexit.register(_write_log)
