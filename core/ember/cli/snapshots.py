"""``ember volume snapshot …``: point-in-time copies of volumes (OpenStackClient's
options and column titles)."""

from __future__ import annotations

import logging

from ember.cli.base import (Command, DictColumn, Lister, ShowOne, each, show_columns,
                            size_column)

LOG = logging.getLogger("ember")


def snapshot_view(snapshot: dict):
    record = dict(snapshot)
    if "metadata" in record:
        record["properties"] = DictColumn(record.pop("metadata") or {})
    return show_columns(record)


class CreateSnapshot(ShowOne):
    """Take a point-in-time copy of a volume (reflink where the filesystem offers it)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="<snapshot-name>", help="Name of the new snapshot")
        parser.add_argument("--volume", metavar="<volume>", required=True,
                            help="Volume to snapshot (name or ID)")
        parser.add_argument("--description", metavar="<description>",
                            help="Description of the snapshot")
        parser.add_argument("--force", action="store_true", default=False,
                            help="Allow a snapshot of an in-use volume")
        return parser

    def act(self, parsed_args):
        return snapshot_view(self.service.create_snapshot(
            self.context, parsed_args.volume, parsed_args.name,
            description=parsed_args.description, force=parsed_args.force))


class ListSnapshot(Lister):
    """List snapshots."""

    catalogue_only = True

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--volume", metavar="<volume>",
                            help="Only snapshots of this volume (name or ID)")
        parser.add_argument("--all-projects", action="store_true", default=False,
                            help="Include all projects (admin only)")
        parser.add_argument("--long", action="store_true", default=False,
                            help="Also list Created At, Volume and Properties")
        return parser

    def act(self, parsed_args):
        snapshots = self.service.list_snapshots(self.context, volume=parsed_args.volume,
                                                all_projects=parsed_args.all_projects)
        headers = ["ID", "Name", "Description", "Status", "Size"]
        fields = ["id", "name", "description", "status", "size"]
        if parsed_args.long:
            headers += ["Created At", "Volume", "Properties"]
            fields += ["created_at", "volume_id"]
        rows = []
        for snap in snapshots:
            row = [size_column(snap) if f == "size" else snap.get(f) for f in fields]
            if parsed_args.long:
                row.append(DictColumn(snap.get("metadata") or {}))
            rows.append(row)
        return headers, rows


class ShowSnapshot(ShowOne):
    """Show a snapshot's details."""

    catalogue_only = True

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("snapshot", metavar="<snapshot>", help="Snapshot (name or ID)")
        return parser

    def act(self, parsed_args):
        return snapshot_view(self.service.get_snapshot(self.context, parsed_args.snapshot))


class DeleteSnapshot(Command):
    """Delete snapshots."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("snapshots", metavar="<snapshot>", nargs="+",
                            help="Snapshot(s) to delete (name or ID)")
        return parser

    def act(self, parsed_args):
        each(parsed_args.snapshots,
             lambda ref: self.service.delete_snapshot(self.context, ref),
             "snapshot", "delete", LOG)
