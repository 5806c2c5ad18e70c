"""Backup policies (an Ember extension): create, list, show, change and delete them,
and name the volumes they apply to. What a policy may say is checked by
``ember.service.policyspec``; the scheduler (``ember.service.scheduling``) runs them.

Policies are project resources like backups: members of a project manage their
project's policies, readers see them, admins reach every project's; a policy applies
only to volumes of its own project.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from ember import errors
from ember import policy as rules
from ember.catalog import policies as queries
from ember.catalog.models import BackupPolicy, BackupPolicyVolume, utcnow
from ember.service import policyspec
from ember.service.base import Shared

FIELDS = ("schedule", "full_every", "max_chain", "retention", "consolidate",
          "verify_schedule", "verify_percent", "force", "project_default", "enabled",
          "description")


class Policies:
    """``create_policy``, ``list_policies``, ``get_policy``, ``update_policy``,
    ``delete_policy``, ``apply_policy`` and ``remove_policy``."""

    def __init__(self, shared: Shared):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy

    def create_policy(self, ctx, name, *, schedule, volumes=(), **fields) -> dict:
        """A new policy in the caller's project; ``fields`` as ``FIELDS``."""
        self.policy.enforce(ctx, rules.POLICY_CREATE)
        checked = policyspec.check_fields(dict(fields, name=name, schedule=schedule))
        self._check_verify(checked)
        with self.catalog.session() as session:
            self._refuse_duplicate(session, ctx.project_id, checked)
            now = self.shared.clock()
            # backups are due at once; the first verification at its first time
            row = BackupPolicy(id=str(uuid.uuid4()), project_id=ctx.project_id,
                               user_id=ctx.user_id, created_at=now, deleted=False,
                               verified_for=now,
                               **{k: v for k, v in checked.items() if v is not None})
            row.retention = checked.get("retention") or {}
            for key in ("consolidate", "force", "project_default"):
                setattr(row, key, bool(checked.get(key)))
            row.enabled = checked.get("enabled") is not False
            session.add(row)
            session.flush()
            self._apply(session, ctx, row, volumes)
            return queries.policy_view(row, queries.named_volumes(session, row.id))

    def list_policies(self, ctx, *, all_projects: bool = False) -> list[dict]:
        self.policy.enforce(ctx, rules.POLICY_GET_ALL)
        with self.catalog.session() as session:
            stmt = sa.select(BackupPolicy).where(BackupPolicy.deleted.is_(False))
            if all_projects:
                self.policy.enforce(ctx, rules.ALL_PROJECTS)
            else:
                stmt = stmt.where(BackupPolicy.project_id == ctx.project_id)
            return [queries.policy_view(row, queries.named_volumes(session, row.id))
                    for row in session.scalars(stmt.order_by(BackupPolicy.name,
                                                             BackupPolicy.id))]

    def get_policy(self, ctx, ref, *, runs: int = queries.RUNS_SHOWN) -> dict:
        """The policy with its newest ``runs`` runs (``runs``: list of run views)."""
        with self.catalog.session() as session:
            row = self._policy(session, ctx, ref)
            self.policy.enforce(ctx, rules.POLICY_GET, row.project_id)
            view = queries.policy_view(row, queries.named_volumes(session, row.id))
            view["runs"] = [queries.run_view(r) for r in queries.runs(session, row.id, runs)]
            return view

    def update_policy(self, ctx, ref, **fields) -> dict:
        """Change the given fields (None: unchanged); ``name`` renames."""
        with self.catalog.session() as session:
            row = self._policy(session, ctx, ref)
            self.policy.enforce(ctx, rules.POLICY_UPDATE, row.project_id)
            checked = {k: v for k, v in policyspec.check_fields(fields).items()
                       if v is not None}
            merged = {k: getattr(row, k) for k in ("verify_schedule", "verify_percent")}
            merged.update(checked)
            self._check_verify(merged)
            self._refuse_duplicate(session, row.project_id, checked, row.id)
            if "retention" in fields and fields["retention"] is not None:
                checked["retention"] = dict(row.retention or {}, **checked["retention"])
            for key, value in checked.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            return queries.policy_view(row, queries.named_volumes(session, row.id))

    def delete_policy(self, ctx, ref) -> None:
        """Delete the policy (its backups stay, and so do its runs' records)."""
        with self.catalog.session() as session:
            row = self._policy(session, ctx, ref)
            self.policy.enforce(ctx, rules.POLICY_DELETE, row.project_id)
            session.execute(sa.delete(BackupPolicyVolume).where(
                BackupPolicyVolume.policy_id == row.id))
            row.deleted, row.deleted_at = True, utcnow()

    def apply_policy(self, ctx, ref, volumes) -> dict:
        """Make the policy apply to ``volumes`` (names or ids of its project's volumes);
        a volume in another policy is refused (remove it there first)."""
        with self.catalog.session() as session:
            row = self._policy(session, ctx, ref)
            self.policy.enforce(ctx, rules.POLICY_UPDATE, row.project_id)
            self._apply(session, ctx, row, volumes)
            return queries.policy_view(row, queries.named_volumes(session, row.id))

    def remove_policy(self, ctx, ref, volumes) -> dict:
        """Stop applying the policy to ``volumes`` (their backups stay)."""
        with self.catalog.session() as session:
            row = self._policy(session, ctx, ref)
            self.policy.enforce(ctx, rules.POLICY_UPDATE, row.project_id)
            for volume_ref in volumes:
                volume = self.shared.volume(session, ctx, volume_ref)
                gone = session.execute(sa.delete(BackupPolicyVolume).where(
                    BackupPolicyVolume.volume_id == volume.id,
                    BackupPolicyVolume.policy_id == row.id)).rowcount
                if not gone:
                    raise errors.InvalidInput("Volume %s is not in policy %s; nothing was "
                                              "removed." % (volume_ref, row.name))
            return queries.policy_view(row, queries.named_volumes(session, row.id))

    # --- helpers --------------------------------------------------------------------------
    def _policy(self, session, ctx, ref) -> BackupPolicy:
        if ref is None or str(ref) == "":
            raise errors.InvalidInput("A policy name or ID is required.")
        live = sa.select(BackupPolicy).where(BackupPolicy.deleted.is_(False))
        scopes = [live.where(BackupPolicy.project_id == ctx.project_id)]
        if ctx.is_admin:
            scopes.append(live)
        for column in (BackupPolicy.id, BackupPolicy.name):
            for scope in scopes:
                rows = session.scalars(scope.where(column == str(ref))).all()
                if len(rows) == 1:
                    return rows[0]
                if len(rows) > 1:
                    raise errors.InvalidInput("More than one policy is named '%s'; use its "
                                              "ID." % ref)
        raise errors.NotFound("No backup policy with a name or ID of '%s' exists." % ref)

    def _apply(self, session, ctx, row: BackupPolicy, volumes) -> None:
        for volume_ref in volumes:
            volume = self.shared.volume(session, ctx, volume_ref)
            if volume.project_id != row.project_id:
                raise errors.InvalidInput("Volume %s belongs to another project than policy "
                                          "%s; nothing was applied." % (volume_ref, row.name))
            other = session.get(BackupPolicyVolume, volume.id)
            if other is not None and other.policy_id != row.id:
                name = session.scalar(sa.select(BackupPolicy.name).where(
                    BackupPolicy.id == other.policy_id))
                raise errors.InvalidState("Volume %s is already in policy %s; remove it "
                                          "there first (ember backup policy remove %s %s)."
                                          % (volume_ref, name, name, volume_ref))
            if other is None:
                session.add(BackupPolicyVolume(volume_id=volume.id, policy_id=row.id,
                                               created_at=utcnow()))
                session.flush()

    @staticmethod
    def _check_verify(fields: dict) -> None:
        if fields.get("verify_percent") is not None and not fields.get("verify_schedule"):
            raise errors.InvalidInput("verify-percent needs a verify-schedule (for example "
                                      "--verify-schedule '0 3 * * 0').")

    def _refuse_duplicate(self, session, project_id, fields: dict, own_id=None) -> None:
        live = sa.select(BackupPolicy).where(BackupPolicy.deleted.is_(False),
                                             BackupPolicy.project_id == project_id,
                                             BackupPolicy.id != (own_id or ""))
        if fields.get("name") and session.scalar(live.where(
                BackupPolicy.name == fields["name"])) is not None:
            raise errors.InvalidInput("A backup policy named '%s' exists already in this "
                                      "project; choose another name." % fields["name"])
        if fields.get("project_default"):
            other = session.scalar(live.where(BackupPolicy.project_default.is_(True)))
            if other is not None:
                raise errors.InvalidInput("Policy %s is the project's default already; only "
                                          "one policy can be (set --no-project-default on "
                                          "it first)." % other.name)
