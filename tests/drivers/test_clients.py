"""``ember.clients.PerThread``: one client per thread, all closed together."""

import threading

from ember.clients import PerThread


def test_one_client_per_thread_and_close_closes_them_all():
    made, closed = [], []

    def build():
        made.append(object())
        return made[-1]

    clients = PerThread(build, closed.append)
    assert clients.current() is None
    mine = clients.get()
    assert clients.get() is mine and clients.current() is mine
    theirs = []
    worker = threading.Thread(target=lambda: theirs.append(clients.get()))
    worker.start()
    worker.join()
    assert theirs[0] is not mine and len(made) == 2
    clients.close()
    assert sorted(map(id, closed)) == sorted(map(id, made))
    assert clients.current() is None and clients.get() is made[2]  # a new one after close


def test_a_failed_build_is_not_remembered():
    calls = []

    def build():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("unreachable")
        return "client"

    clients = PerThread(build, lambda client: None)
    try:
        clients.get()
    except OSError:
        pass
    assert clients.current() is None and clients.get() == "client"
