"""Authorisation with oslo.policy, using Cinder's default rules (``docs/format.md``,
Policy and notifications).

The defaults are registered in code; an operator overrides any rule in the file named by
``[oslo_policy] policy_file`` (YAML or JSON, as for Cinder). Targets carry the owning
``project_id`` so the ``project_id:%(project_id)s`` checks scope members to their project.
"""

from __future__ import annotations

from ember import entrypoints, errors

# oslo.policy (with oslo.utils, PyYAML and requests) is imported on the first check,
# not with this module: the rule names below are used by modules that never check.

ADMIN_API = "rule:admin_api"
READER_OR_ADMIN = "role:admin or (role:reader and project_id:%(project_id)s)"
MEMBER_OR_ADMIN = "role:admin or (role:member and project_id:%(project_id)s)"

# backups (names exactly as Cinder's)
GET_ALL = "backup:get_all"
GET = "backup:get"
CREATE = "backup:create"
UPDATE = "backup:update"
DELETE = "backup:delete"
RESTORE = "backup:restore"
IMPORT = "backup:backup-import"
EXPORT = "backup:export-import"
RESET_STATUS = "volume_extension:backup_admin_actions:reset_status"
FORCE_DELETE = "volume_extension:backup_admin_actions:force_delete"
PROJECT_ATTRIBUTE = "backup:backup_project_attribute"
ALL_PROJECTS = "ember:all_projects"
# volumes and snapshots (Cinder's names; same member/reader split)
VOLUME_GET = "volume:get"
VOLUME_GET_ALL = "volume:get_all"
VOLUME_CREATE = "volume:create"
VOLUME_ADOPT = "volume_extension:volume_manage"
VOLUME_UPDATE = "volume:update"
VOLUME_DELETE = "volume:delete"
VOLUME_ATTACH = "volume:attach"
VOLUME_RESET_STATUS = "volume_extension:volume_admin_actions:reset_status"
SNAPSHOT_GET = "volume:get_snapshot"
SNAPSHOT_CREATE = "volume:create_snapshot"
SNAPSHOT_DELETE = "volume:delete_snapshot"
SNAPSHOT_RESET_STATUS = "volume_extension:snapshot_admin_actions:reset_status"
# quotas and services (Cinder's names)
QUOTA_SHOW = "volume_extension:quotas:show"
QUOTA_UPDATE = "volume_extension:quotas:update"
QUOTA_DELETE = "volume_extension:quotas:delete"
SERVICE_LIST = "volume_extension:services:index"
# backup policies (an Ember extension; the same member/reader split as backups)
POLICY_GET_ALL = "ember:backup_policy:get_all"
POLICY_GET = "ember:backup_policy:get"
POLICY_CREATE = "ember:backup_policy:create"
POLICY_UPDATE = "ember:backup_policy:update"
POLICY_DELETE = "ember:backup_policy:delete"
# monitoring (Ember's own)
METRICS = "ember:metrics"
DASHBOARD = "ember:dashboard"

_BASE = [
    ("context_is_admin", "role:admin", "Decides what is_admin means."),
    ("admin_api", "is_admin:True or (role:admin and is_admin_project:True)",
     "Administrator-only operations."),
]

_RULES = [
    (GET_ALL, READER_OR_ADMIN, "List backups."),
    (GET, READER_OR_ADMIN, "Show a backup."),
    (CREATE, MEMBER_OR_ADMIN, "Create a backup."),
    (UPDATE, MEMBER_OR_ADMIN, "Update a backup's name, description or properties."),
    (DELETE, MEMBER_OR_ADMIN, "Delete a backup."),
    (RESTORE, MEMBER_OR_ADMIN, "Restore a backup."),
    (IMPORT, ADMIN_API, "Import a backup record."),
    (EXPORT, ADMIN_API, "Export a backup record."),
    (RESET_STATUS, ADMIN_API, "Reset a backup's status."),
    (FORCE_DELETE, ADMIN_API, "Force-delete a backup (cancels a running one)."),
    (PROJECT_ATTRIBUTE, ADMIN_API, "Show a backup's project and user."),
    (ALL_PROJECTS, ADMIN_API, "List resources of every project."),
    (VOLUME_GET_ALL, READER_OR_ADMIN, "List volumes."),
    (VOLUME_GET, READER_OR_ADMIN, "Show a volume."),
    (VOLUME_CREATE, MEMBER_OR_ADMIN, "Create a volume."),
    (VOLUME_ADOPT, ADMIN_API, "Adopt an existing file or block device as a volume "
     "(volume create --path): it reads and writes any file the service can reach."),
    (VOLUME_UPDATE, MEMBER_OR_ADMIN, "Update a volume."),
    (VOLUME_DELETE, MEMBER_OR_ADMIN, "Delete a volume."),
    (VOLUME_ATTACH, MEMBER_OR_ADMIN, "Attach or detach a volume."),
    (VOLUME_RESET_STATUS, ADMIN_API, "Set a volume's status."),
    (SNAPSHOT_GET, READER_OR_ADMIN, "Show or list snapshots."),
    (SNAPSHOT_CREATE, MEMBER_OR_ADMIN, "Create a snapshot."),
    (SNAPSHOT_DELETE, MEMBER_OR_ADMIN, "Delete a snapshot."),
    (SNAPSHOT_RESET_STATUS, ADMIN_API, "Set a snapshot's status."),
    (QUOTA_SHOW, READER_OR_ADMIN, "Show a project's quotas, usage and the defaults."),
    (QUOTA_UPDATE, ADMIN_API, "Set a project's quotas."),
    (QUOTA_DELETE, ADMIN_API, "Reset a project's quotas to the defaults."),
    (SERVICE_LIST, ADMIN_API, "List the backup services."),
    (POLICY_GET_ALL, READER_OR_ADMIN, "List backup policies."),
    (POLICY_GET, READER_OR_ADMIN, "Show a backup policy and its runs."),
    (POLICY_CREATE, MEMBER_OR_ADMIN, "Create a backup policy."),
    (POLICY_UPDATE, MEMBER_OR_ADMIN, "Change a backup policy or the volumes it applies to."),
    (POLICY_DELETE, MEMBER_OR_ADMIN, "Delete a backup policy."),
    (METRICS, ADMIN_API, "Read GET /metrics: every project's volumes, work and workers."),
    (DASHBOARD, READER_OR_ADMIN, "Open GET /dashboard (a member sees its own project; "
     "ember:all_projects shows every project)."),
]


def list_rules() -> list:
    """Every default rule as ``oslo_policy.policy.RuleDefault`` (also for
    ``oslopolicy-sample-generator``)."""
    from oslo_policy import policy

    return [policy.RuleDefault(name, check, description=desc)
            for name, check, desc in _BASE + _RULES]


def _defer_rule_checks() -> None:
    """Import oslo.policy's extension checks (``http:``, ``https:``) only when a rule
    uses one. oslo.policy loads every one through stevedore on the first rule it parses,
    which imports requests (70 ms of a 0.4 s ``ember volume list``) for rules that never
    call out; here its table holds a factory per entry point that imports on first use."""
    from oslo_policy import _checks

    if getattr(_checks, "extension_checks", False) is not None:
        return  # already loaded (or a release without the table): leave it alone

    def deferred(entry_point):
        return lambda kind, match: entry_point.load()(kind, match)

    _checks.extension_checks = {ep.name: deferred(ep)
                                for ep in entrypoints.group("oslo.policy.rule_checks")}


def _role(creds: dict, role: str) -> bool:
    """oslo.policy's ``role:ROLE`` (case-insensitive)."""
    return role.lower() in [r.lower() for r in creds.get("roles") or ()]


def _generic(creds: dict, kind: str, match: str) -> bool:
    """oslo.policy's ``KIND:MATCH`` on a top-level credential."""
    return kind in creds and match == str(creds[kind])


#: the default check strings evaluated without oslo.policy (``Policy.allowed``), each
#: exactly as oslo.policy reads it (a test compares them on every role and project)
_DEFAULT_CHECKS = {
    READER_OR_ADMIN: lambda target, creds: _role(creds, "admin") or (
        _role(creds, "reader") and _generic(creds, "project_id", "%s" % target["project_id"])),
    MEMBER_OR_ADMIN: lambda target, creds: _role(creds, "admin") or (
        _role(creds, "member") and _generic(creds, "project_id", "%s" % target["project_id"])),
    ADMIN_API: lambda target, creds: _generic(creds, "is_admin", "True") or (
        _role(creds, "admin") and _generic(creds, "is_admin_project", "True")),
}
_CHECK_OF = {name: check for name, check, _ in _RULES}


class Policy:
    """Checks a context against a rule and raises PolicyNotAuthorized on refusal.

    While no policy file or policy directory exists (``[oslo_policy] policy_file``,
    ``policy_dirs``, found as oslo.policy finds them), every rule is its default, and the
    defaults are evaluated here: oslo.policy (with oslo.utils and PyYAML, a third of
    ``ember volume list``) is imported only when a file may override a rule."""

    def __init__(self, conf):
        self._conf = conf
        self._enforcer = None
        self._registered = False

    @property
    def enforcer(self):
        """The ``oslo_policy.policy.Enforcer``, built (and oslo.policy imported) on first
        use."""
        if self._enforcer is None:
            from oslo_policy import policy

            _defer_rule_checks()
            enforcer = policy.Enforcer(self._conf)
            enforcer.register_defaults(list_rules())
            self._enforcer = enforcer
        return self._enforcer

    def allowed(self, ctx, rule: str, project_id: str | None = None) -> bool:
        target = {"project_id": project_id if project_id is not None else ctx.project_id}
        creds = ctx.to_policy_values()
        creds.setdefault("is_admin_project", True)  # one installation, one admin project
        check = _DEFAULT_CHECKS.get(_CHECK_OF.get(rule))
        if check is not None and self._enforcer is None and self.defaults_only():
            return bool(check(target, creds))
        return bool(self.enforcer.authorize(rule, target, creds))

    def defaults_only(self) -> bool:
        """No policy file nor policy directory can be found: every rule is its default.
        Asked at every check (a few stats), as oslo.policy notices a file added later."""
        if not self._registered:
            from oslo_policy import opts  # the options only (oslo.config's, cheap)

            opts._register(self._conf)  # as Enforcer does; a second register is a no-op
            self._registered = True
        group = self._conf.oslo_policy
        return not any(self._conf.find_file(path)
                       for path in [group.policy_file, *group.policy_dirs])

    def enforce(self, ctx, rule: str, project_id: str | None = None) -> None:
        if not self.allowed(ctx, rule, project_id):
            raise errors.PolicyNotAuthorized(
                "Policy doesn't allow %s to be performed (user %s, project %s)."
                % (rule, ctx.user_id, ctx.project_id))
