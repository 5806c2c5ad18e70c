"""Every configuration snippet in the docs, pasted into a file and read as Ember reads it.

A snippet is a fenced ``ini`` block, or the body of a here-document (``cat > … <<'EOF'``)
that holds a ``[section]``. Each is written to a file as shown and then:

* read by oslo.config with every option of every installed Ember distribution (and of
  oslo.messaging / oslo.policy) registered, and every value read: a value the option
  refuses (``report_interval = 10  # seconds`` is not an integer) fails here;
* checked by ``ember.config_lint``: no unknown name, no comment kept inside a value;
* given to the real ``ember config check``, which must report no warning and no error.
  What only the operator's own servers can answer is pointed at local stand-ins through
  the environment (the catalogue at a SQLite file, the repository at a posix directory),
  since the snippets name example hosts; their options are still read and checked above.
  A shared path the snippet names is made to exist under the test's directory, as the
  operator mounts it.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import warnings
from importlib.metadata import entry_points

import pytest
from oslo_config import cfg
from ember.testing.services import PATIENCE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMBER = os.path.join(os.path.dirname(sys.executable), "ember")
HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?\s*$")


def snippets() -> list[tuple[str, str]]:
    """(where, text) of every ini snippet of the README, docs/ and the plugins' docs."""
    found = []
    paths = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs",
                                                                                 "*.md")))
    for path in paths:
        lines = open(path, encoding="utf-8").read().splitlines()
        fence, start, end_word = None, 0, None
        for number, line in enumerate(lines):
            if end_word is not None:
                if line.strip() == end_word:
                    body = lines[start:number]
                    if any(re.match(r"\[\w+\]\s*$", b) for b in body):
                        found.append(("%s:%d" % (os.path.relpath(path, ROOT), start), body))
                    end_word = None
            elif line.startswith("```"):
                if fence is None:
                    fence, start = line[3:].strip(), number + 1
                else:
                    if fence == "ini":
                        found.append(("%s:%d" % (os.path.relpath(path, ROOT), start),
                                      lines[start:number]))
                    fence = None
            elif fence is not None and fence != "ini" and HEREDOC.search(line):
                end_word, start = HEREDOC.search(line).group(1), number + 1
    return [(where, "\n".join(body) + "\n") for where, body in found]


SNIPPETS = snippets()


def test_the_docs_have_the_snippets_this_test_knows():
    where = {w.split(":")[0] for w, _ in SNIPPETS}
    assert {"docs/api.md", "docs/workers.md", "docs/s3.md", "docs/swift.md",
            "docs/gcs.md"} <= where, where


def _pasted(text: str, tmp_path) -> str:
    """The snippet as a file, its shared paths made to exist under ``tmp_path``."""
    def shared(match):
        paths = [str(tmp_path / p.strip().lstrip("/")) for p in match.group(2).split(",")]
        for path in paths:
            os.makedirs(path, exist_ok=True)
        return match.group(1) + ",".join(paths)

    text = re.sub(r"^(backup_shared_volume_paths\s*=\s*)(.*)$", shared, text, flags=re.M)
    path = tmp_path / "pasted.conf"
    path.write_text(text)
    return str(path)


def _every_option_registered() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    for ep in entry_points(group="oslo.config.opts"):
        if ep.name == "ember" or ep.name.startswith("ember.") or ep.name in (
                "oslo.messaging", "oslo.policy", "keystonemiddleware.auth_token"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                listed = ep.load()()
            for group, opts in listed:
                for opt in opts:
                    try:
                        conf.register_opt(opt, group=group)
                    except cfg.DuplicateOptError:
                        pass  # the same option listed by two namespaces
    return conf


@pytest.mark.parametrize("where, text", SNIPPETS, ids=[w for w, _ in SNIPPETS])
def test_an_ini_snippet_reads_as_written(where, text, tmp_path):
    from ember import config, config_lint

    path = _pasted(text, tmp_path)
    conf = _every_option_registered()
    conf([], project="ember", default_config_files=[path], use_env=False)
    for group, name in config._registered(conf):  # every value, as the option reads it
        try:
            conf[name] if group is None else conf[group][name]
        except (cfg.Error, ValueError) as exc:
            pytest.fail("%s: %s" % (where, config.describe_bad_value(group, name, exc)))
    assert [item.message() for item in config_lint.findings(conf)] == [], where
    config.check_paths(conf)


@pytest.mark.parametrize("where, text", SNIPPETS, ids=[w for w, _ in SNIPPETS])
def test_ember_config_check_passes_on_an_ini_snippet(where, text, tmp_path):
    path = _pasted(text, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "EMBER_", "XDG_"))}
    env.update(HOME=str(tmp_path), OS_DEFAULT__STATE_PATH=str(tmp_path / "state"),
               # local stand-ins for the example servers the snippet names
               OS_DATABASE__CONNECTION="sqlite:///%s" % (tmp_path / "catalogue.sqlite"),
               OS_DEFAULT__BACKUP_DRIVER="posix",
               OS_DEFAULT__BACKUP_POSIX_PATH=str(tmp_path / "state" / "backup"))
    done = subprocess.run([EMBER, "--config-file", path, "config", "check", "-f", "json"],
                          capture_output=True, text=True, env=env, timeout=PATIENCE)
    rows = json.loads(done.stdout or "[]")
    assert [r for r in rows if r["Result"] != "ok"] == [], (where, done.stderr)
    assert (done.returncode, done.stderr) == (0, ""), where
