"""What both chain runners share (``cinder_posix_runner.py`` in Cinder's venv,
``ember_runner.py`` in Ember's): the same ``backup`` and ``restore`` sub-commands and the
same JSON chain catalogue file, so the interop check and the comparison drive either tool
the same way and either reads the other's chains. Standard library only."""

import argparse
import json
import os


def load_catalog(path: str) -> dict:
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


def save_catalog(path: str, catalog: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(catalog, f, indent=1)
    os.replace(tmp, path)


def parser(description: str, cmd_backup, cmd_restore) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("backup")
    b.add_argument("--repo", required=True)
    b.add_argument("--catalog", required=True)
    b.add_argument("--volume", required=True)
    b.add_argument("--backup-id", required=True)
    b.add_argument("--parent")
    b.add_argument("--container")
    b.add_argument("--name")
    b.add_argument("--codec", default="zlib")
    b.add_argument("--object-size", type=int, default=1999994880)
    b.add_argument("--sha-block-size", type=int, default=32768)
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore")
    r.add_argument("--repo", required=True)
    r.add_argument("--catalog", required=True)
    r.add_argument("--backup-id", required=True)
    r.add_argument("--target", required=True)
    r.add_argument("--size", type=int, help="pre-size the new target (sparse)")
    r.set_defaults(func=cmd_restore)
    return p
