"""``ember backup policy create|list|show|set|delete|apply|remove``: backup policies
(an Ember extension) that ``ember-scheduler`` runs."""

from __future__ import annotations

import logging

from cliff import columns as cliff_columns

from ember.cli.base import Command, Lister, ListColumn, ShowOne, each, show_columns

LOG = logging.getLogger("ember")
KEEPS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


class RulesColumn(cliff_columns.FormattableColumn):
    """Retention rules: ``keep-daily=7, keep-hourly=24`` in tables, the dict in json."""

    def human_readable(self) -> str:
        return ", ".join("%s=%s" % (k.replace("_", "-"), v)
                         for k, v in sorted((self._value or {}).items())) or "keep everything"

    def machine_readable(self):
        return dict(self._value or {})


class RunsColumn(cliff_columns.FormattableColumn):
    """A policy's newest runs, one line each in tables; the list of runs in json/yaml."""

    def human_readable(self) -> str:
        return "\n".join(_run_line(run) for run in self._value or []) or "none yet"

    def machine_readable(self):
        return list(self._value or [])


def _run_line(run: dict) -> str:
    counts = ", ".join("%s %d" % (key, len(run[key])) for key in
                       ("created", "pruned", "verified") if run[key])
    line = "%s %s %s" % ((run["scheduled_for"] or "")[:16], run["kind"], run["status"])
    line += (": " + counts) if counts else ""
    if run["failures"]:
        line += "; failed: " + " | ".join(run["failures"])
    return line


def _view(policy: dict):
    return show_columns(policy, {"retention": RulesColumn, "volumes": ListColumn,
                                 "runs": RunsColumn})


def _options(parser, creating: bool) -> None:
    """The policy's settings, shared by ``create`` and ``set``."""
    parser.add_argument("--schedule", metavar="<cron>", required=creating,
                        help="When to back up: five cron fields, UTC (for example "
                             "'0 * * * *' for hourly), or @hourly, @daily, @weekly, …")
    parser.add_argument("--description", metavar="<description>")
    parser.add_argument("--full-every", metavar="<N>",
                        help="Every Nth backup of a volume is a full (1: all are)")
    parser.add_argument("--max-chain", metavar="<N>",
                        help="A full once a chain holds N backups (with --consolidate: a "
                             "synthetic full made from the repository)")
    for keep in KEEPS:
        parser.add_argument("--keep-%s" % keep, metavar="<N>", dest="keep_" + keep,
                            help="Keep the newest backup of each of the last N %s" % (
                                "backups" if keep == "last" else {"daily": "days"}.get(
                                    keep, keep[:-2] + "s")))
    parser.add_argument("--keep-within", metavar="<duration>",
                        help="Keep every backup newer than the newest minus this "
                             "duration (1y2m3d4h)")
    _switch(parser, "consolidate", "make synthetic fulls (see --max-chain)")
    parser.add_argument("--verify-schedule", metavar="<cron>",
                        help="When to verify (cron, as --schedule)")
    parser.add_argument("--verify-percent", metavar="<percent>",
                        help="Share of the policy's objects each verification reads, least "
                             "recently read first (default 100)")
    _switch(parser, "force", "back up in-use volumes (from a point-in-time copy)")
    _switch(parser, "project-default", "apply to every volume of the project that no "
                                       "policy names")


def _switch(parser, name: str, what: str) -> None:
    group = parser.add_mutually_exclusive_group()
    dest = name.replace("-", "_")
    group.add_argument("--" + name, dest=dest, action="store_true", default=None,
                       help=what[0].upper() + what[1:])
    group.add_argument("--no-" + name, dest=dest, action="store_false",
                       help="Do not " + what.split(" (")[0])


def _fields(args) -> dict:
    rules = {"keep_" + k: getattr(args, "keep_" + k) for k in KEEPS}
    rules["keep_within"] = args.keep_within
    rules = {k: v for k, v in rules.items() if v is not None}
    return dict(description=args.description, full_every=args.full_every,
                max_chain=args.max_chain, retention=rules or None,
                consolidate=args.consolidate, verify_schedule=args.verify_schedule,
                verify_percent=args.verify_percent, force=args.force,
                project_default=args.project_default)


class CreatePolicy(ShowOne):
    """Create a backup policy (ember-scheduler runs it)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="<name>", help="Name of the policy")
        _options(parser, creating=True)
        parser.add_argument("--volume", metavar="<volume>", dest="volumes", action="append",
                            default=[], help="Volume it applies to (name or ID; repeatable)")
        return parser

    def act(self, parsed_args):
        return _view(self.service.create_policy(
            self.context, parsed_args.name, schedule=parsed_args.schedule,
            volumes=parsed_args.volumes, **_fields(parsed_args)))


class ListPolicy(Lister):
    """List backup policies."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--all-projects", action="store_true", default=False,
                            help="Include all projects (admin only)")
        return parser

    def act(self, parsed_args):
        policies = self.service.list_policies(self.context,
                                              all_projects=parsed_args.all_projects)
        headers = ("ID", "Name", "Schedule", "Retention", "Volumes", "Enabled")
        return headers, [(p["id"], p["name"], p["schedule"], RulesColumn(p["retention"]),
                          "(project default)" if p["project_default"] and not p["volumes"]
                          else ListColumn(p["volumes"]), p["enabled"]) for p in policies]


class ShowPolicy(ShowOne):
    """Show a backup policy and its newest runs."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("policy", metavar="<policy>", help="Policy (name or ID)")
        parser.add_argument("--runs", metavar="<N>", type=int, default=10,
                            help="How many of the newest runs to show (default 10)")
        return parser

    def act(self, parsed_args):
        return _view(self.service.get_policy(self.context, parsed_args.policy,
                                             runs=max(0, parsed_args.runs)))


class SetPolicy(Command):
    """Change a backup policy."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("policy", metavar="<policy>", help="Policy (name or ID)")
        parser.add_argument("--name", metavar="<name>", help="New name")
        _options(parser, creating=False)
        _switch(parser, "enable", "run it (--no-enable pauses it)")
        return parser

    def act(self, parsed_args):
        self.service.update_policy(self.context, parsed_args.policy, name=parsed_args.name,
                                   schedule=parsed_args.schedule, enabled=parsed_args.enable,
                                   **_fields(parsed_args))


class DeletePolicy(Command):
    """Delete backup policies (their backups stay)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("policies", metavar="<policy>", nargs="+",
                            help="Policy (name or ID; repeatable)")
        return parser

    def act(self, parsed_args):
        each(parsed_args.policies, lambda p: self.service.delete_policy(self.context, p),
             "backup policy", "delete", LOG)


class ApplyPolicy(Command):
    """Make a backup policy apply to volumes."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("policy", metavar="<policy>", help="Policy (name or ID)")
        parser.add_argument("volumes", metavar="<volume>", nargs="+",
                            help="Volume (name or ID; repeatable)")
        return parser

    def act(self, parsed_args):
        self.service.apply_policy(self.context, parsed_args.policy, parsed_args.volumes)


class RemovePolicy(ApplyPolicy):
    """Stop a backup policy applying to volumes (their backups stay)."""

    def act(self, parsed_args):
        self.service.remove_policy(self.context, parsed_args.policy, parsed_args.volumes)
