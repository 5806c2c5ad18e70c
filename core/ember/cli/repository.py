"""Commands that read the repository itself: ``ember volume backup verify`` and
``ember volume backup record scan`` (neither exists in Cinder)."""

from __future__ import annotations

from ember.cli.base import Lister


class VerifyVolumeBackup(Lister):
    """Check every object of a backup's chain and say whether it is intact.

    Reads each object (md5, decompression, the sha256 list) without writing anything and
    lists the missing, extra and corrupt objects by name. Exits 1 when anything is
    damaged, 0 when the whole chain is intact."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("backup", metavar="<backup>", help="Backup to verify (name or ID)")
        return parser

    def act(self, parsed_args):
        bar = self.app.progress("verify")
        try:
            self._report = self.service.verify_backup(self.context, parsed_args.backup,
                                                      progress=bar)
        finally:
            if bar is not None:
                bar.close(failed=self._report is None)
        headers = ("Backup", "Object", "Problem", "Detail")
        return headers, [(f.backup_id, f.object, f.problem, f.detail)
                         for f in self._report.findings]

    def produce_output(self, parsed_args, column_names, data):
        report = self._report
        if report is not None and not report.damaged and parsed_args.formatter == "table":
            # an empty table would be a blank line: say it in words instead
            self.app.stdout.write(report.summary() + "\n")
            self._said = True
            return 0
        return super().produce_output(parsed_args, column_names, data)

    def run(self, parsed_args):
        self._report, self._said = None, False
        result = super().run(parsed_args)
        report = self._report
        if report is None:
            return result
        if not self._said:
            self.app.stderr.write("ember: %s\n" % report.summary())
        return 1 if report.damaged else result


class ScanBackupRecords(Lister):
    """Rebuild lost catalogue records from the repository (admin only).

    Imports every backup whose _metadata is in the configured repository but not in the
    catalogue, parents before children."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--container", metavar="<container>",
                            help="Scan only this container (default: every container under "
                                 "the posix-family base path, or the object store's "
                                 "configured container or bucket)")
        parser.add_argument("--dry-run", action="store_true", default=False,
                            help="List what would be imported; change nothing")
        return parser

    def act(self, parsed_args):
        found = self.service.scan_repository(self.context, container=parsed_args.container,
                                             dry_run=parsed_args.dry_run)
        fields = ("id", "name", "volume_id", "parent_id", "container", "created_at", "size",
                  "object_count", "action", "note")
        headers = ("ID", "Name", "Volume", "Parent", "Container", "Created At", "Size",
                   "Object Count", "Action", "Note")
        return headers, [tuple(item[f] for f in fields) for item in found]
