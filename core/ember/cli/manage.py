"""``ember-manage``: the operator's maintenance commands (Cinder's ``cinder-manage``).

    ember-manage [--config-file FILE]... [--config-dir DIR]... db sync
    ember-manage [--config-file FILE]... [--config-dir DIR]... db version

``db sync`` upgrades the catalogue's schema to this Ember's newest revision, for
operators who upgrade the schema as a step of its own and run the services with
``[database] auto_migrate = false``. It is safe beside running services: the upgrade
takes the database's schema lock, as the services' own start-up upgrade does.
"""

from __future__ import annotations

import argparse
import sys

from ember import config, errors


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ember-manage", description="Maintenance commands for an Ember installation.")
    parser.add_argument("--config-file", action="append", default=[], metavar="FILE")
    parser.add_argument("--config-dir", action="append", default=[], metavar="DIR")
    category = parser.add_subparsers(dest="category", required=True, metavar="CATEGORY")
    db = category.add_parser("db", help="The catalogue database's schema.")
    action = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    action.add_parser("sync", help="Upgrade the schema to this Ember's newest revision.")
    action.add_parser("version", help="Print the schema revision the catalogue is at.")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from ember.service import manage

    try:
        conf = config.load(args.config_file, args.config_dir)
        if args.action == "sync":
            before, after = manage.sync_catalogue(conf)
            if before == after:
                print("The catalogue is at revision %s already; nothing to do." % after)
            else:
                print("The catalogue was upgraded from %s to revision %s."
                      % ("an empty database" if before is None else "revision " + before,
                         after))
        else:
            found, newest = manage.catalogue_revision(conf)
            print(found or "empty")
            if found != newest:
                print("this Ember needs revision %s: run `ember-manage db sync`" % newest,
                      file=sys.stderr)
    except errors.EmberError as exc:
        print("ember-manage: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
