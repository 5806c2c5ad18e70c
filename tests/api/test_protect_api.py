"""Ember's ``ember:protected`` extension attribute of a backup through the API: shown in
the detail view, set with an update, and a protected backup's delete (force too) is a 400
whose message says how to unprotect it."""

import os

from ember.context import RequestContext

P1 = RequestContext(user_id="u1", project_id="p1")


def test_protect_through_the_api(api, service):
    vol = service.create_volume(P1, "vol", size="4M")
    with open(vol["path"], "r+b") as f:
        f.write(os.urandom(1 << 20))
    backup_id = service.create_backup(P1, vol["id"], name="full")["id"]
    assert api("GET", "backups/" + backup_id).json["backup"]["ember:protected"] is False
    resp = api("PUT", "backups/" + backup_id, {"backup": {"ember:protected": True}},
               version="3.9")
    assert resp.status_int == 200
    assert api("GET", "backups/" + backup_id).json["backup"]["ember:protected"] is True
    message = ("Backup %s is protected; unprotect it first with 'ember volume backup set "
               "--no-protect %s'." % (backup_id, backup_id))
    resp = api("DELETE", "backups/" + backup_id)
    assert resp.status_int == 400 and resp.json["badRequest"]["message"] == message
    assert api("PUT", "backups/" + backup_id, {"backup": {"ember:protected": "maybe"}},
               version="3.9").status_int == 400
    api("PUT", "backups/" + backup_id, {"backup": {"ember:protected": "false"}}, version="3.9")
    assert api("GET", "backups/" + backup_id).json["backup"]["ember:protected"] is False
    assert api("DELETE", "backups/" + backup_id).status_int == 202
