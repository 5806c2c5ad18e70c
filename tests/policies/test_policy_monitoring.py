"""A policy's scheduled verification shows in metrics and on the dashboard as the
volume's last successful verify; damage it finds marks the volume damaged."""

from ember.context import RequestContext

MEMBER = RequestContext(user_id="u1", project_id="p1", roles=("member", "reader"))
ADMIN = RequestContext.default()


def last_verify(service, volume_id):
    [summary] = [v for v in service.monitoring.metrics(ADMIN).volumes
                 if v.volume_id == volume_id]
    [row] = [v for v in service.monitoring.dashboard(MEMBER).volumes if v["id"] == volume_id]
    return summary.last_verify, row["last_verify"], row["policy"]


def test_scheduled_verification_is_the_volumes_last_verify(service, inline, clock, store):
    vol = service.create_volume(MEMBER, "v", size="1M")
    service.create_policy(MEMBER, "nightly", schedule="@daily", volumes=["v"],
                          verify_schedule="@daily", verify_percent=100)
    service.run_policies(inline)  # the first backup is due at once
    assert last_verify(service, vol["id"]) == (None, None, "nightly")
    clock.advance(days=1, minutes=1)
    service.run_policies(inline)  # a backup and the first verification
    verified, shown, _ = last_verify(service, vol["id"])
    assert verified == clock.now and shown == clock.now.isoformat(timespec="microseconds")
    with store.lock:  # every data object's bytes damaged in the repository
        for objects in store.containers.values():
            for name in [n for n in objects if n[-6:-5] == "-" and n[-5:].isdigit()]:
                objects[name] = b"damaged" + objects[name][7:]
    clock.advance(days=1)
    service.run_policies(inline)  # finds the damaged full
    [summary] = service.monitoring.metrics(ADMIN).volumes
    assert summary.damaged == 1
    [row] = service.monitoring.dashboard(MEMBER).volumes
    assert (row["state"], row["damaged"]) == ("damaged", 1)
