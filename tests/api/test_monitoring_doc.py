"""docs/monitoring.md as written: its Prometheus configuration and alert rules are YAML
Prometheus can load, and every metric a rule names is one ``GET /metrics`` serves; its
``ember-api`` options exist."""

import os
import pathlib
import re

import yaml
from ember.api.opts import api_opts
from ember.context import RequestContext
from prometheus_client.parser import text_string_to_metric_families

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"
P1 = RequestContext(user_id="u1", project_id="p1")


def blocks(kind: str) -> list[str]:
    return re.findall(r"```%s\n(.*?)```" % kind, DOC.read_text(encoding="utf-8"), re.S)


def test_rules_name_served_metrics(api, service):
    vol = service.create_volume(P1, "v", size="1M")
    with open(vol["path"], "r+b") as f:
        f.write(os.urandom(4096))
    backup = service.create_backup(P1, "v")
    service.verify_backup(P1, backup["id"])
    served = {s.name for f in text_string_to_metric_families(api("GET", "/metrics").text)
              for s in f.samples}
    scrape, rules = (yaml.safe_load(text) for text in blocks("yaml"))
    assert [job["job_name"] for job in scrape["scrape_configs"]] == ["ember-api",
                                                                      "ember-backup"]
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(exprs) >= 3
    named = {name for expr in exprs for name in re.findall(r"\bember_[a-z_]+", expr)}
    assert named and named <= served, named - served


def test_options_exist():
    [ini] = blocks("ini")
    options = {line.split("=")[0].strip() for line in ini.splitlines() if "=" in line}
    assert options <= {opt.name for opt in api_opts}
