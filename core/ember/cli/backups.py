"""``ember volume backup …`` and ``ember backup-reset-state``, with OpenStackClient's
options and column titles (and cinderclient's spelling for reset-state)."""

from __future__ import annotations

import logging

from ember import errors
from ember.cli.base import (Command, DictColumn, KeyValueAction, Lister, ShowOne, each,
                            show_columns, size_column)

LOG = logging.getLogger("ember")

LIST_STATUSES = ("creating", "available", "deleting", "error", "restoring",
                 "error_restoring")
RESET_STATES = ("available", "error")


def _backup_view(backup: dict):
    return show_columns(backup, {"metadata": DictColumn})


def _async_option(parser, what: str) -> None:
    parser.add_argument("--async", dest="run_async", action="store_true", default=False,
                        help="Hand the %s to the ember-backup workers ([DEFAULT] "
                             "transport_url) and return once one has taken it, instead of "
                             "running it here" % what)


def _hand_off(command, parsed_args):
    """The dispatcher of ``--async`` (a worker takes the work before it returns), or None
    to run here; refuses before anything changes when no workers can be reached."""
    if not parsed_args.run_async:
        return None
    from ember.workers.dispatcher import HandOffDispatcher

    return HandOffDispatcher(command.service)


class CreateVolumeBackup(ShowOne):
    """Back up a volume (runs in the foreground; exits 1 with the fail reason)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("volume", metavar="<volume>", help="Volume to back up (name or ID)")
        parser.add_argument("--name", metavar="<name>", help="Name of the backup")
        parser.add_argument("--description", metavar="<description>",
                            help="Description of the backup")
        parser.add_argument("--container", metavar="<container>",
                            help="Repository container (default: the driver's)")
        parser.add_argument("--snapshot", metavar="<snapshot>",
                            help="Snapshot to back up (name or ID)")
        parser.add_argument("--force", action="store_true", default=False,
                            help="Allow backing up an in-use volume (read from a temporary "
                                 "snapshot)")
        incremental = parser.add_mutually_exclusive_group()
        incremental.add_argument("--incremental", dest="incremental", action="store_true",
                                 default=False, help="Incremental backup on the latest one")
        incremental.add_argument("--no-incremental", dest="incremental",
                                 action="store_false", help="Full backup (default)")
        parser.add_argument("--property", metavar="<key=value>", dest="properties",
                            action=KeyValueAction,
                            help="Property to set on the backup (repeatable)")
        parser.add_argument("--availability-zone", metavar="<zone-name>",
                            help="Availability zone recorded on the backup")
        _async_option(parser, "backup")
        return parser

    def act(self, parsed_args):
        from ember.service.backups import IN_USE_NEEDS_FORCE

        try:
            return self._create(parsed_args)
        except errors.InvalidState as exc:
            if str(exc) != IN_USE_NEEDS_FORCE:
                raise
            # Cinder's words (the API keeps them), and the option that does it here
            raise errors.InvalidState("%s Add --force: the backup then reads a temporary "
                                      "snapshot of the volume." % exc) from exc

    def _create(self, parsed_args):
        dispatcher = _hand_off(self, parsed_args)
        options = dict(name=parsed_args.name, description=parsed_args.description,
                       container=parsed_args.container, incremental=parsed_args.incremental,
                       force=parsed_args.force, snapshot=parsed_args.snapshot,
                       metadata=parsed_args.properties,
                       availability_zone=parsed_args.availability_zone)
        if dispatcher is not None:
            try:
                backup = self.service.submit_create_backup(
                    self.context, parsed_args.volume, dispatcher=dispatcher, **options)
            finally:
                dispatcher.shutdown()
            return _backup_view(self.service.get_backup(self.context, backup["id"]))
        backup = self.service.create_backup(self.context, parsed_args.volume,
                                            progress=self.app.progress("backup"), **options)
        return _backup_view(backup)


class ListVolumeBackup(Lister):
    """List backups (your project's; all with --all-projects, admin only)."""

    catalogue_only = True

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--long", action="store_true", default=False,
                            help="Also list Availability Zone, Volume and Container")
        parser.add_argument("--name", metavar="<name>", help="Only backups with this name")
        parser.add_argument("--status", metavar="<status>", choices=LIST_STATUSES,
                            help="Only backups in this status (%s)" % ", ".join(LIST_STATUSES))
        parser.add_argument("--volume", metavar="<volume>",
                            help="Only backups of this volume (name or ID)")
        parser.add_argument("--marker", metavar="<volume-backup>",
                            help="The last backup of the previous page (name or ID)")
        parser.add_argument("--limit", metavar="<num-backups>", type=int,
                            help="Maximum number of backups to list")
        parser.add_argument("--all-projects", action="store_true", default=False,
                            help="Include all projects (admin only)")
        return parser

    def act(self, parsed_args):
        if parsed_args.limit is not None and parsed_args.limit < 0:
            raise errors.InvalidInput("--limit must be 0 or more, got %d" % parsed_args.limit)
        backups = self.service.list_backups(
            self.context, name=parsed_args.name, status=parsed_args.status,
            volume=parsed_args.volume, all_projects=parsed_args.all_projects,
            marker=parsed_args.marker, limit=parsed_args.limit)
        fields = ["id", "name", "description", "status", "size", "is_incremental",
                  "created_at"]
        headers = ["ID", "Name", "Description", "Status", "Size", "Incremental", "Created At"]
        volume_names = {}
        if parsed_args.long:
            fields += ["availability_zone", "volume_id", "container"]
            headers += ["Availability Zone", "Volume", "Container"]
            # OpenStackClient shows the volume's name where it can find one.
            volume_names = {v["id"]: v["name"] for v in self.service.list_volumes(
                self.context, all_projects=parsed_args.all_projects) if v.get("name")}
        rows = []
        for backup in backups:
            row = [size_column(backup) if f == "size" else backup.get(f) for f in fields]
            if parsed_args.long:
                row[fields.index("volume_id")] = volume_names.get(backup.get("volume_id"),
                                                                  backup.get("volume_id"))
            rows.append(row)
        return headers, rows


class ShowVolumeBackup(ShowOne):
    """Show a backup's details."""

    catalogue_only = True

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("backup", metavar="<backup>", help="Backup to show (name or ID)")
        return parser

    def act(self, parsed_args):
        return _backup_view(self.service.get_backup(self.context, parsed_args.backup))


class RestoreVolumeBackup(ShowOne):
    """Restore a backup into a new volume or onto an existing one."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("backup", metavar="<backup>", help="Backup to restore (name or ID)")
        parser.add_argument(
            "volume", metavar="<volume>", nargs="?",
            help="Existing volume to restore onto (name or ID; it must be available and at "
                 "least the backup's size), or the name of a new volume. Without it, a new "
                 "volume is created as restore_backup_<backup id> and then, as Cinder does, "
                 "given the name of the volume that was backed up, so two volumes may share "
                 "that name.")
        parser.add_argument("--force", action="store_true", default=False,
                            help="Restore onto an existing volume, overwriting it (refused "
                                 "without it, as OpenStackClient refuses)")
        _async_option(parser, "restore")
        return parser

    def act(self, parsed_args):
        target, name = None, None
        if parsed_args.volume is not None:
            try:
                target = self.service.get_volume(self.context, parsed_args.volume)["id"]
            except errors.NotFound:
                name = parsed_args.volume  # not a volume: the name of a new one
            if target is not None and not parsed_args.force:  # OpenStackClient's words
                raise errors.InvalidInput(
                    "Volume '%s' already exists; if you want to restore the backup to it "
                    "you need to specify the '--force' option" % parsed_args.volume)
        dispatcher = _hand_off(self, parsed_args)
        if dispatcher is not None:
            try:
                begun = self.service.submit_restore(
                    self.context, parsed_args.backup, target, dispatcher=dispatcher,
                    name=name, force=parsed_args.force)
            finally:
                dispatcher.shutdown()
            return show_columns({k: begun[k] for k in ("backup_id", "volume_id",
                                                       "volume_name")})
        result = self.service.restore_backup(
            self.context, parsed_args.backup, target, name=name, force=parsed_args.force,
            progress=self.app.progress("restore"))
        return show_columns(result)


class DeleteVolumeBackup(Command):
    """Delete backups (--force: in any status, cancelling a running backup)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("backups", metavar="<backup>", nargs="+",
                            help="Backup(s) to delete (name or ID)")
        parser.add_argument("--force", action="store_true", default=False,
                            help="Allow deleting a backup in a status other than available "
                                 "or error (admin only)")
        _async_option(parser, "delete")
        return parser

    def act(self, parsed_args):
        dispatcher = _hand_off(self, parsed_args)
        try:
            each(parsed_args.backups, lambda ref: self._delete(ref, dispatcher, parsed_args),
                 "backup", "delete", LOG)
        finally:
            if dispatcher is not None:
                dispatcher.shutdown()

    def _delete(self, ref, dispatcher, parsed_args) -> None:
        if dispatcher is None:
            self.service.delete_backup(self.context, ref, force=parsed_args.force)
        else:
            self.service.submit_delete(self.context, ref, dispatcher=dispatcher,
                                       force=parsed_args.force)


class SetVolumeBackup(Command):
    """Set a backup's name, description, properties or (admin) state."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("backup", metavar="<backup>", help="Backup to modify (name or ID)")
        parser.add_argument("--name", metavar="<name>", help="New name")
        parser.add_argument("--description", metavar="<description>", help="New description")
        parser.add_argument("--state", metavar="<state>", choices=RESET_STATES,
                            help="New state: available or error (admin only)")
        parser.add_argument("--no-property", action="store_true", default=False,
                            help="Remove all properties (before applying --property)")
        parser.add_argument("--property", metavar="<key=value>", dest="properties",
                            action=KeyValueAction, help="Property to add or change "
                                                        "(repeatable)")
        protect = parser.add_mutually_exclusive_group()
        protect.add_argument("--protect", dest="protected", action="store_true",
                             default=None, help="Protect the backup: delete and prune "
                                                "leave it (Ember only)")
        protect.add_argument("--no-protect", dest="protected", action="store_false",
                             help="Unprotect the backup")
        return parser

    def act(self, parsed_args):
        if parsed_args.state:
            self.service.reset_backup_status(self.context, parsed_args.backup,
                                             parsed_args.state)
        a = parsed_args
        if (a.name is not None or a.description is not None or a.properties or a.no_property
                or a.protected is not None):
            self.service.update_backup(self.context, a.backup, name=a.name,
                                       description=a.description, properties=a.properties,
                                       no_property=a.no_property, protected=a.protected)


class UnsetVolumeBackup(Command):
    """Remove properties from a backup."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("backup", metavar="<backup>", help="Backup to modify (name or ID)")
        parser.add_argument("--property", metavar="<key>", dest="properties",
                            action="append", required=True,
                            help="Property to remove (repeatable)")
        return parser

    def act(self, parsed_args):
        self.service.update_backup(self.context, parsed_args.backup,
                                   remove_properties=tuple(parsed_args.properties))


class ExportBackupRecord(ShowOne):
    """Export a backup's record (import it into Ember or Cinder elsewhere)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("backup", metavar="<backup>", help="Backup to export (name or ID)")
        return parser

    def act(self, parsed_args):
        record = self.service.export_record(self.context, parsed_args.backup)
        return ("Backup Service", "Metadata"), (record["backup_service"], record["backup_url"])


class ImportBackupRecord(ShowOne):
    """Import a backup record exported by Ember or Cinder."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("backup_service", metavar="<backup_service>",
                            help="The record's backup service (its driver's class path)")
        parser.add_argument("backup_metadata", metavar="<backup_metadata>",
                            help="The record's metadata (the exported base64 string)")
        return parser

    def act(self, parsed_args):
        return _backup_view(self.service.import_record(
            self.context, parsed_args.backup_service, parsed_args.backup_metadata))


class ResetBackupState(Command):
    """Explicitly set a backup's state (cinderclient's backup-reset-state; admin only)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("backups", metavar="<backup>", nargs="+",
                            help="Backup(s) to modify (name or ID)")
        parser.add_argument("--state", metavar="<state>", default="available",
                            choices=RESET_STATES,
                            help="The state to set: available (default) or error")
        return parser

    def act(self, parsed_args):
        each(parsed_args.backups,
             lambda ref: self.service.reset_backup_status(self.context, ref, parsed_args.state),
             "backup", "reset the state of", LOG)
