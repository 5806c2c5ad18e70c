"""After the README's short guide (run as written by the real ``ember``) and one backup
that fails for real (its image became a directory), a real ``ember-api`` (noauth) over the same
state: ``GET /metrics`` parsed with ``prometheus_client.parser`` gives the catalogue's
last-success times and counts, and ``GET /dashboard`` in headless Chromium shows the
guide's volumes and backups and the failed backup's reason (screenshot kept).

A member of another project seeing none of it is checked against the real Keystone in
``test_keystone.py`` (under noauth every caller is an administrator)."""

import datetime
import os
import pathlib
import re
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from ember.testing.services import PATIENCE

ROOT = pathlib.Path(__file__).resolve().parents[2]


def guide_commands() -> list[str]:
    """The lines of the first fenced block of the README's "A short guide"."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    guide = readme[readme.index("## A short guide"):]
    block = re.search(r"```\n(.*?)```", guide, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def run_guide(ember) -> None:
    env = dict(ember.env, PATH=os.path.dirname(ember.argv()[0]) + os.pathsep
               + os.environ["PATH"])
    for command in guide_commands():
        done = subprocess.run(["bash", "-c", command], cwd=str(ember.home), env=env,
                              capture_output=True, text=True, timeout=PATIENCE)
        assert done.returncode == 0, "README: %s\n%s%s" % (command, done.stdout, done.stderr)


def get(url: str, token: str) -> str:
    req = urllib.request.Request(url, headers={"X-Auth-Token": token})
    with urllib.request.urlopen(req, timeout=PATIENCE) as resp:
        return resp.read().decode()


def epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).replace(
        tzinfo=datetime.timezone.utc).timestamp()


@pytest.fixture
def guided(ember, make_server):
    """(server, catalogue as the CLI lists it) after the guide and one failed backup."""
    run_guide(ember)
    os.remove(ember.home / "data.img")  # the adopted image becomes a directory: its
    os.mkdir(ember.home / "data.img")  # backup's run fails, after its row exists
    failed = ember.run("volume", "backup", "create", "--name", "broken", "data-disk")
    assert failed.returncode == 1 and "is not an image file" in failed.stderr
    backups = {b["Name"]: ember.json("volume", "backup", "show", b["ID"])
               for b in ember.json("volume", "backup", "list")}
    volumes = {v["Name"]: v["ID"] for v in ember.json("volume", "list")}
    return make_server().start(), backups, volumes


def test_the_guide_in_metrics_and_in_a_browser(guided, browser):
    server, backups, volumes = guided
    metrics_match_the_catalogue(server, backups, volumes)
    dashboard_shows_the_guide(server, backups, volumes, browser)


def metrics_match_the_catalogue(server, backups, volumes):
    text = get(server.url + "/metrics", "admin:default")
    m = {(s.name, tuple(sorted(s.labels.items()))): s.value
         for family in text_string_to_metric_families(text) for s in family.samples}

    def of(volume, key):
        return m.get(("ember_volume_" + key, (("project_id", "default"),
                                              ("volume_id", volumes[volume]))))

    nightly = backups["nightly"]
    assert set(backups) == {"nightly", "broken"}  # nightly-inc was deleted
    assert of("db-disk", "last_backup_success_timestamp_seconds") == pytest.approx(
        epoch(nightly["data_timestamp"]), abs=1e-3)
    assert (of("db-disk", "backups"), of("db-disk", "chain_length")) == (1, 1)
    assert of("db-disk", "last_verify_success_timestamp_seconds") > epoch(
        nightly["created_at"])  # the guide verified nightly-inc, db-disk's backup
    assert of("data-disk", "last_backup_success_timestamp_seconds") is None
    assert (of("data-disk", "backups"), of("db-copy", "backups")) == (0, 0)

    def ops(outcome, kind):
        return m[("ember_operations_%s_total" % outcome, (("kind", kind),))]

    assert [ops("started", k) for k in ("create", "restore", "delete", "verify")] == [
        3, 2, 1, 1]
    assert (ops("succeeded", "create"), ops("failed", "create")) == (2, 1)
    assert (ops("succeeded", "restore"), ops("succeeded", "delete")) == (2, 1)
    assert m[("ember_backups", (("status", "available"),))] == 1
    assert m[("ember_backups", (("status", "error"),))] == 1


def dashboard_shows_the_guide(server, backups, volumes, browser):
    # without a token the page asks for one and sets no cookie
    browser.driver.get(server.url + "/dashboard")
    assert browser.driver.find_element("id", "token") is not None
    assert browser.driver.get_cookies() == []
    browser.sign_in(server.url, "admin:default")
    shown = {row.get_attribute("data-volume-id"): row.get_attribute("data-state")
             for row in browser.driver.find_elements("css selector", "tr.volume")}
    assert shown == {volumes["db-disk"]: "ok", volumes["data-disk"]: "never",
                     volumes["db-copy"]: "never"}
    text = browser.driver.find_element("id", "volumes").text
    assert all(name in text for name in ("db-disk", "data-disk", "db-copy"))
    broken = backups["broken"]
    [failure] = browser.texts("tr.failure")
    assert "broken" in failure and broken["fail_reason"] in failure
    assert broken["fail_reason"].endswith("is not an image file or block device")
    assert len(browser.driver.find_elements("css selector", "#plots svg polyline")) == 2
    path = browser.screenshot("dashboard-after-guide.png")
    assert path.stat().st_size > 10_000
