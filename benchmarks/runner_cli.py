"""The command line both chain runners share (``cinder_posix_runner.py`` in Cinder's venv,
``ember_runner.py`` in Ember's): the same ``backup`` and ``restore`` sub-commands, so the
interop check and the comparison drive either tool the same way. Standard library only."""

import argparse


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
