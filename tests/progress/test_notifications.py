"""OpenStack notifications: received for real over RabbitMQ by an oslo.messaging
notification listener (as Telemetry listens to Cinder), and not even a connection when
they are off (the default)."""

import socket
import threading
import time
import uuid
import warnings

import pytest
from ember.context import RequestContext
from ember.notifications import Notifications, usage
from ember.testing.config import make_conf
from ember.testing.services import PATIENCE, require, tcp_open

with warnings.catch_warnings():  # eventlet's import-time deprecation warning
    warnings.simplefilter("ignore")
    import oslo_messaging as om
from oslo_config import cfg

MiB = 1 << 20
RABBIT = "rabbit://guest:guest@127.0.0.1:5672/"
USAGE_FIELDS = {"tenant_id", "user_id", "availability_zone", "backup_id", "host",
                "display_name", "created_at", "status", "volume_id", "size",
                "service_metadata", "service", "fail_reason", "parent_id",
                "num_dependent_backups", "snapshot_id"}


class Endpoint:
    """Collects every notification, whatever its priority."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def _record(self, ctxt, publisher_id, event_type, payload, metadata):
        with self.lock:
            self.events.append((publisher_id, event_type, payload))

    info = error = warn = _record


@pytest.fixture
def listener():
    require(tcp_open("127.0.0.1", 5672), "RabbitMQ on 127.0.0.1:5672 (guest/guest)",
            "apt-get install rabbitmq-server && service rabbitmq-server start")
    run = uuid.uuid4().hex[:12]
    topic, exchange = "ember-test-%s" % run, "ember-test-%s" % run
    conf = cfg.ConfigOpts()
    conf([])
    transport = om.get_notification_transport(conf, url=RABBIT)
    endpoint = Endpoint()
    server = om.get_notification_listener(
        transport, [om.Target(topic=topic, exchange=exchange)], [endpoint],
        executor="threading")
    server.start()  # declares and binds the queues before anything is sent
    endpoint.topic, endpoint.exchange = topic, exchange
    yield endpoint
    server.stop()
    server.wait()
    transport.cleanup()


def _config(ember, text: str):
    path = ember.root / "ember.conf"
    path.write_text(text)
    return ("--config-file", path)


def test_telemetry_listener_receives_cinders_events_in_order(ember, listener):
    config = _config(ember, "[DEFAULT]\ntransport_url = %s\ncontrol_exchange = %s\n"
                     "host = ember-test-host\n"
                     "[oslo_messaging_notifications]\ndriver = messagingv2\ntopics = %s\n"
                     % (RABBIT, listener.exchange, listener.topic))
    ember.env["OS_DEFAULT__BACKUP_OBJECT_NUMBER_PER_NOTIFICATION"] = "2"
    # one engine thread over 64 MiB: long enough for progress before 100 on any machine
    ember.env["OS_DEFAULT__BACKUP_ENGINE_THREADS"] = "1"
    ember.volume("v", 64)
    backup = ember.json(*config, "volume", "backup", "create", "v", "--name", "b")["id"]
    ember.json(*config, "volume", "backup", "restore", backup, "r")
    ember.ok(*config, "backup-reset-state", "--state", "error", backup)
    ember.ok(*config, "volume", "backup", "delete", backup)

    deadline = time.monotonic() + PATIENCE
    while not any(e[1] == "backup.delete.end" for e in listener.events):
        assert time.monotonic() < deadline, [e[1] for e in listener.events]
        time.sleep(0.1)
    events = list(listener.events)

    types = [e[1] for e in events]
    progress = {"backup.createprogress", "backup.restoreprogress"}
    assert [t for t in types if t not in progress] == [
        "backup.create.start", "backup.create.end",
        "backup.restore.start", "backup.restore.end",
        "backup.reset_status.start", "backup.reset_status.end",
        "backup.delete.start", "backup.delete.end"]
    assert {e[0] for e in events} == {"backup.ember-test-host"}
    for kind, start, end in (("backup.createprogress", "backup.create.start",
                              "backup.create.end"),
                             ("backup.restoreprogress", "backup.restore.start",
                              "backup.restore.end")):
        positions = [i for i, t in enumerate(types) if t == kind]
        assert len(positions) >= 2 and types.index(start) < positions[0]
        assert positions[-1] < types.index(end)
        percents = [events[i][2]["backup_percent"] for i in positions]
        assert percents == sorted(set(percents)) and percents[-1] == 100
        assert all(set(events[i][2]) == USAGE_FIELDS | {"backup_percent"} for i in positions)
    for _, _, payload in events:
        assert USAGE_FIELDS <= set(payload) and payload["backup_id"] == backup
    by_type = {t: p for _, t, p in events}
    assert (by_type["backup.create.start"]["status"], by_type["backup.create.end"]["status"],
            by_type["backup.delete.end"]["status"]) == ("creating", "available", "deleted")
    assert by_type["backup.create.end"]["display_name"] == "b"
    assert by_type["backup.create.end"]["created_at"].endswith("+00:00")


class CountingServer:
    """A TCP port that counts connection attempts (stands in for a broker that must
    never be contacted)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.mark.parametrize("driver_line", ["", "driver = noop\n"])
def test_notifications_off_means_no_connection(ember, driver_line):
    server = CountingServer()
    config = _config(ember, "[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:%d/\n"
                     "[oslo_messaging_notifications]\n%s" % (server.port, driver_line))
    ember.volume("v", 2)
    backup = ember.json(*config, "volume", "backup", "create", "v")["id"]
    ember.ok(*config, "volume", "backup", "delete", backup)
    server.sock.close()
    assert server.accepted == 0


def test_a_failed_operation_sends_an_error_event_not_an_end():
    # oslo.messaging's own in-process "test" driver: the payload mapping, no broker
    from oslo_messaging.notify import _impl_test

    conf = make_conf(host="h1")
    conf([], default_config_files=[])
    conf.register_opts(om.notify.notifier._notifier_opts, group="oslo_messaging_notifications")
    conf.set_override("driver", ["test"], group="oslo_messaging_notifications")
    conf.set_override("transport_url", "fake:/", group="oslo_messaging_notifications")
    _impl_test.reset()
    notifications = Notifications(conf)
    backup = {"id": "b1", "status": "error", "project_id": "p", "user_id": "u",
              "created_at": "2026-01-02T03:04:05.000006", "fail_reason": None}
    ctx = RequestContext.default()
    notifications.ember_operation_start("backup.create", dict(backup, status="creating"), ctx)
    notifications.ember_operation_end("backup.create", backup, ctx, RuntimeError("disk on fire"))
    sent = [(m["event_type"], priority, m["publisher_id"], m["payload"]["status"],
             m["payload"]["fail_reason"]) for _, m, priority, _ in _impl_test.NOTIFICATIONS]
    assert sent == [("backup.create.start", "INFO", "backup.h1", "creating", None),
                    ("backup.create.error", "ERROR", "backup.h1", "error", "disk on fire")]
    assert usage(backup)["created_at"] == "2026-01-02T03:04:05.000006+00:00"
    notifications.close()


def test_an_unreachable_broker_costs_one_warning_line_not_the_backup(ember):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = _config(ember, "[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:%d/\n"
                     "[oslo_messaging_notifications]\ndriver = messagingv2\nretry = 0\n" % port)
    ember.volume("v", 2)
    result = ember.run(*config, "volume", "backup", "create", "v", "-f", "value", "-c",
                       "status")
    assert (result.returncode, result.stdout) == (0, "available\n")
    assert result.stderr.splitlines() == [
        "ember: could not send OpenStack notifications ([Errno 111] Connection refused); "
        "the operation goes on without them"]
