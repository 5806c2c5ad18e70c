"""``ember volume …``: image files and block devices Ember backs up, with
OpenStackClient's options and column titles (plus ``--path`` and attach/detach)."""

from __future__ import annotations

import logging

from ember.cli.base import (Command, DictColumn, KeyValueAction, Lister, ListColumn, ShowOne,
                            each, show_columns, size_column)

LOG = logging.getLogger("ember")


def attached_to(volume: dict) -> str:
    """OpenStackClient's "Attached to" text: ``Attached to <server>`` per attachment."""
    servers = [a.get("server_id") for a in volume.get("attachments") or []]
    if not servers and volume.get("instance_id"):
        servers = [volume["instance_id"]]
    return "\n".join("Attached to %s" % s for s in servers if s)


class AttachmentsColumn(ListColumn):
    """Attachments: the servers in tables, the attachment records in json/yaml."""

    def human_readable(self) -> str:
        return ", ".join(str(a.get("server_id")) for a in self._value or [])


def volume_view(volume: dict):
    """``volume show`` columns: sorted fields, metadata shown as ``properties`` (OSC)."""
    record = dict(volume)
    record["properties"] = DictColumn(record.pop("metadata", None) or {})
    if isinstance(record.get("attachments"), list):
        record["attachments"] = AttachmentsColumn(record["attachments"])
    return show_columns(record)


def parse_size(text: str):
    """``10`` → 10 (GiB, as in openstack); ``512M``/``10G``/``1T`` are left to the service,
    which owns the rules and the error message."""
    return int(text) if text.isdigit() else text


class CreateVolume(ShowOne):
    """Create a volume: a new sparse image (--size) or an existing file/device (--path)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="<name>", help="Name of the new volume")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--size", metavar="<size>",
                            help="Size in GiB, or with a suffix: 512M, 10G, 1T")
        source.add_argument("--path", metavar="<path>",
                            help="Adopt this existing image file or block device")
        parser.add_argument("--description", metavar="<description>",
                            help="Description of the volume")
        parser.add_argument("--property", metavar="<key=value>", dest="properties",
                            action=KeyValueAction, help="Property of the volume (repeatable)")
        return parser

    def act(self, parsed_args):
        size = parse_size(parsed_args.size) if parsed_args.size is not None else None
        volume = self.service.create_volume(
            self.context, parsed_args.name, size=size, path=parsed_args.path,
            description=parsed_args.description, metadata=parsed_args.properties)
        return volume_view(volume)


class ListVolume(Lister):
    """List volumes."""

    catalogue_only = True

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--name", metavar="<name>", help="Only volumes with this name")
        parser.add_argument("--status", metavar="<status>", help="Only volumes in this status")
        parser.add_argument("--all-projects", action="store_true", default=False,
                            help="Include all projects (admin only)")
        parser.add_argument("--long", action="store_true", default=False,
                            help="Also list Type, Bootable and Properties")
        return parser

    def act(self, parsed_args):
        options = dict(name=parsed_args.name, status=parsed_args.status,
                       all_projects=parsed_args.all_projects)
        volumes = self.quickly("list_volumes", **options)
        if volumes is None:
            volumes = self.service.list_volumes(self.context, **options)
        if parsed_args.long:
            headers = ("ID", "Name", "Status", "Size", "Type", "Bootable", "Attached to",
                       "Properties")
            rows = [(v.get("id"), v.get("name"), v.get("status"), size_column(v),
                     v.get("volume_type"), v.get("bootable"), attached_to(v),
                     DictColumn(v.get("metadata") or {})) for v in volumes]
        else:
            headers = ("ID", "Name", "Status", "Size", "Attached to")
            rows = [(v.get("id"), v.get("name"), v.get("status"), size_column(v),
                     attached_to(v)) for v in volumes]
        return headers, rows


class ShowVolume(ShowOne):
    """Show a volume's details (including its path)."""

    catalogue_only = True

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("volume", metavar="<volume>", help="Volume to show (name or ID)")
        return parser

    def act(self, parsed_args):
        return volume_view(self.service.get_volume(self.context, parsed_args.volume))


class SetVolume(Command):
    """Set a volume's name, description, properties or (admin) state."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("volume", metavar="<volume>", help="Volume to modify (name or ID)")
        parser.add_argument("--name", metavar="<name>", help="New name")
        parser.add_argument("--description", metavar="<description>", help="New description")
        parser.add_argument("--no-property", action="store_true", default=False,
                            help="Remove all properties (before applying --property)")
        parser.add_argument("--property", metavar="<key=value>", dest="properties",
                            action=KeyValueAction, help="Property to add or change "
                                                        "(repeatable)")
        parser.add_argument("--state", metavar="<state>",
                            help="New state (admin only; use with care)")
        return parser

    def act(self, parsed_args):
        metadata = None
        if parsed_args.properties or parsed_args.no_property:
            current = {} if parsed_args.no_property else dict(
                self.service.get_volume(self.context, parsed_args.volume).get("metadata") or {})
            current.update(parsed_args.properties or {})
            metadata = current
        self.service.update_volume(self.context, parsed_args.volume, name=parsed_args.name,
                                   description=parsed_args.description, metadata=metadata,
                                   status=parsed_args.state)


class DeleteVolume(Command):
    """Delete volumes (the image file Ember created is removed; an adopted path is kept)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("volumes", metavar="<volume>", nargs="+",
                            help="Volume(s) to delete (name or ID)")
        parser.add_argument("--force", action="store_true", default=False,
                            help="Delete in any status that is not busy (admin only)")
        return parser

    def act(self, parsed_args):
        each(parsed_args.volumes,
             lambda ref: self.service.delete_volume(self.context, ref, force=parsed_args.force),
             "volume", "delete", LOG)


class AttachVolume(ShowOne):
    """Record that an instance uses the volume (status in-use)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("volume", metavar="<volume>", help="Volume to attach (name or ID)")
        parser.add_argument("--instance", metavar="<instance-id>",
                            help="The instance using it (free text)")
        return parser

    def act(self, parsed_args):
        return volume_view(self.service.attach_volume(self.context, parsed_args.volume,
                                                      instance=parsed_args.instance))


class DetachVolume(ShowOne):
    """Remove the volume's attachment (status available)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("volume", metavar="<volume>", help="Volume to detach (name or ID)")
        return parser

    def act(self, parsed_args):
        return volume_view(self.service.detach_volume(self.context, parsed_args.volume))
