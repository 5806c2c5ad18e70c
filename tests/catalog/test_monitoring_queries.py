"""The monitoring queries (``ember.catalog.monitoring``) on SQLite, PostgreSQL and
MariaDB/MySQL, against the same answers worked out in Python from the rows inserted:
chains restarted by a newer full, backups in error and deleted, a volume gone with its
backups left, a volume with no backup, two projects."""

import datetime
import uuid

import pytest
import sqlalchemy as sa

T0 = datetime.datetime(2026, 12, 1, 0, 0, 0)


def _rows():
    """(volume rows, backup rows): 13 volumes in two projects (volume 11 deleted, volume
    12 without backups), 90 backups; every 7th in error, every 11th deleted, a new full every 4th of a
    volume's backups, sizes all different."""
    vols = [{"id": str(uuid.uuid4()), "project_id": ("p1", "p2")[v % 2], "user_id": "u",
             "display_name": "vol-%d" % v, "size": 1, "size_bytes": 1 << 30,
             "status": "available", "path": "/nonexistent/%d" % v, "owns_path": False,
             "properties": {}, "deleted": v == 11, "created_at": T0}
            for v in range(13)]
    backups, parents = [], {}
    for i in range(90):
        vol = vols[i % 11]  # volume 10 gets backups, volume 11 (deleted) too via i % 11
        if i % 11 == 10 and i > 50:
            vol = vols[11]
        when = T0 + datetime.timedelta(minutes=i)
        status = "error" if i % 7 == 3 else "available"
        full = (i // 11) % 4 == 0 or vol["id"] not in parents
        bid = str(uuid.uuid4())
        backups.append({
            "id": bid, "project_id": vol["project_id"], "user_id": "u",
            "volume_id": vol["id"], "status": status, "size": 1, "size_bytes": 1 << 30,
            "display_name": "b-%d" % i, "container": "c%d" % (i % 2), "service": "posix",
            "service_metadata": "p%d" % i, "object_count": i, "stored_bytes": 1000 + i,
            "parent_id": None if full else parents[vol["id"]], "properties": {},
            "deleted": i % 11 == 5, "num_dependent_backups": 0, "created_at": when,
            "data_timestamp": when})
        if status == "available":
            parents[vol["id"]] = bid
    return vols, backups


def _expected(vols, backups, project=None):
    """{volume id: (backups, stored bytes, last success, chain length)} from the rows."""
    live = [b for b in backups if not b["deleted"]
            and (project is None or b["project_id"] == project)]
    ids = {b["volume_id"] for b in live} | {
        v["id"] for v in vols if not v["deleted"]
        and (project is None or v["project_id"] == project)}
    out = {}
    for vid in ids:
        mine = [b for b in live if b["volume_id"] == vid]
        good = [b for b in mine if b["status"] == "available"]
        fulls = [b["data_timestamp"] for b in good if b["parent_id"] is None]
        chain = sum(b["data_timestamp"] >= max(fulls) for b in good) if fulls else 0
        out[vid] = (len(good), sum(b["stored_bytes"] for b in mine),
                    max((b["data_timestamp"] for b in good), default=None), chain)
    return out


@pytest.mark.parametrize("project", [None, "p1"])
def test_volume_summaries_match_the_rows(catalog, project):
    from ember.catalog import monitoring
    from ember.catalog.models import Backup, Volume

    vols, backups = _rows()
    with catalog.session() as session:
        session.execute(sa.insert(Volume), vols)
        session.execute(sa.insert(Backup), backups)
    with catalog.session() as session:
        found = monitoring.volume_summaries(session, project)
        by_status = monitoring.backups_by_status(session, project)
    got = {s.volume_id: (s.backups, s.stored_bytes, s.last_success, s.chain_length)
           for s in found}
    expected = _expected(vols, backups, project)
    assert got == expected
    if project is None:  # the gone volume (its backups left) and the one never backed up
        assert got[vols[11]["id"]][0] > 0 and got[vols[12]["id"]] == (0, 0, None, 0)
    assert any(chain > 1 for *_, chain in expected.values())  # the chains are exercised
    assert any(n > chain > 0 for n, _, _, chain in expected.values())  # restarted ones
    live = [b for b in backups if not b["deleted"]
            and (project is None or b["project_id"] == project)]
    assert by_status == {s: sum(b["status"] == s for b in live) for s in ("available", "error")}
    assert [s.volume_id for s in found] == [
        vid for _, vid in sorted((s.project_id or "", s.volume_id) for s in found)]
