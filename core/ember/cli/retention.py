"""``ember volume backup prune`` (restic's forget rules, chains kept whole) and
``ember volume backup consolidate`` (a synthetic full from a chain)."""

from __future__ import annotations

import argparse

from ember import errors
from ember.cli.base import ListColumn, Lister, ShowOne, show_columns

# ember.service.retention is imported where it is used: importing any module of
# ember.service imports the whole service (SQLAlchemy, ...), which ``ember --help`` and
# every other command would then pay for (tests/cli/test_startup.py)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError("%r is not a whole number, 0 or more" % text)
    return value


def _duration(text: str):
    from ember.service.retention import Duration

    try:
        return Duration.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class PruneVolumeBackups(Lister):
    """Delete the backups no --keep-* rule keeps (a kept backup's parents are kept).

    restic's forget rules; protected backups and backups in use are kept."""

    def get_parser(self, prog_name):
        from ember.service.retention import PERIODS

        parser = super().get_parser(prog_name)
        parser.add_argument("volumes", metavar="<volume>", nargs="*",
                            help="Volume(s) whose backups to prune (name or ID; default: "
                                 "every volume with backups in your project)")
        parser.add_argument("--keep-last", metavar="<n>", type=_count, default=0,
                            help="Keep the n newest backups")
        for period, unit in zip(PERIODS, ("hour", "day", "ISO week", "month", "year")):
            parser.add_argument("--keep-%s" % period, metavar="<n>", type=_count, default=0,
                                help="Keep the newest backup of each of the last n %ss "
                                     "(UTC) that have backups" % unit)
        parser.add_argument("--keep-within", metavar="<duration>", type=_duration,
                            help="Keep backups taken within this duration of the newest "
                                 "one, e.g. 1y2m3d4h or 36h")
        parser.add_argument("--dry-run", action="store_true", default=False,
                            help="Only show what would be kept and deleted, and why")
        return parser

    def act(self, parsed_args):
        from ember.service.retention import Rules

        a = parsed_args
        keep = Rules(last=a.keep_last, hourly=a.keep_hourly, daily=a.keep_daily,
                     weekly=a.keep_weekly, monthly=a.keep_monthly, yearly=a.keep_yearly,
                     within=a.keep_within)
        rows = self.service.prune_backups(self.context, a.volumes, keep=keep,
                                          dry_run=a.dry_run)
        headers = ("Volume", "Backup", "Name", "Data Timestamp", "Incremental", "Action",
                   "Reason")
        table = [(r["volume_id"], r["backup_id"], r["name"], r["data_timestamp"],
                  r["is_incremental"], r["action"], ListColumn(r["reasons"])) for r in rows]
        self.failed = [r for r in rows if r["action"] == "failed"]
        return headers, table

    def run(self, parsed_args):
        """Print the whole table, then fail once if any delete was refused."""
        self.failed = []
        status = super().run(parsed_args)
        if self.failed and not status:
            raise errors.InvalidState(
                "%d backup(s) could not be deleted (see the Reason column); the rest of "
                "the prune was done, run it again once the cause is fixed."
                % len(self.failed))
        return status


class ConsolidateVolumeBackup(ShowOne):
    """Make a full backup equal to a backup's restore point (the volume is not read)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("backup", metavar="<backup>",
                            help="Backup whose restore point to consolidate (name or ID)")
        parser.add_argument("--name", metavar="<name>", help="Name of the new full backup")
        parser.add_argument("--description", metavar="<description>",
                            help="Description of the new full backup")
        return parser

    def act(self, parsed_args):
        backup = self.service.consolidate_backup(
            self.context, parsed_args.backup, name=parsed_args.name,
            description=parsed_args.description,
            progress=self.app.progress("consolidate"))
        return show_columns(backup)
