"""What ``ember-scheduler`` does on each pass, as service operations: take the lease,
start the backups of every policy that is due, finish the runs whose backups ended
(prune by the policy's retention rules), and run due verifications.

* **One scheduler**: a pass runs only while its process holds the ``scheduler`` lease
  (``ember.catalog.policies.take_lease``); and a due time is claimed by one conditional
  UPDATE of the policy's ``backed_up_for``/``verified_for`` before anything starts, so
  even a scheduler that lost its lease mid-pass cannot start a time twice.
* **Catch up once**: only the newest missed time of a schedule is run
  (``policyspec.latest_due``).
* **One backup of a volume at a time**: a backup is begun through the same
  ``begin_create_backup`` as the API, which claims the volume; a volume still being
  backed up is skipped, and the run says so.
* **Same path as the API**: ``submit_create_backup`` with the scheduler's
  ``dispatcher`` (``ember.service.dispatch``: threads of this process, this thread, or
  ``ember-backup`` workers).
* Every run is recorded (``backup_policy_runs``): when it was due, started and
  finished, the backups it created, pruned and verified, and each failure with its
  reason. Deletes go through ``delete_backup``, children first, so a prune stopped at
  any point leaves whole chains.

Times come from ``Shared.clock`` (naive UTC), which tests replace.
"""

from __future__ import annotations

import datetime
import logging
import math
import uuid

import sqlalchemy as sa

from ember import errors
from ember.catalog import policies as queries
from ember.catalog.models import Backup, BackupPolicy, BackupPolicyRun, BackupVerification
from ember.catalog.states import BackupStatus
from ember.config import one_line
from ember.context import RequestContext
from ember.service import policyspec, retention, submit
from ember.service.base import Shared, chain_member

LOG = logging.getLogger(__name__)
LEASE = "scheduler"
#: the metadata key naming the policy that made a backup
POLICY_KEY = "ember_policy"
RUNNING, PRUNING, DONE, FAILED = "running", "pruning", "done", "failed"
ENDED = (BackupStatus.AVAILABLE, BackupStatus.ERROR, BackupStatus.DELETED)


def _why(exc: BaseException) -> str:
    return (one_line(exc) or type(exc).__name__)[:255]


class Scheduler:
    """``hold_scheduler_lease``, ``release_scheduler_lease`` and ``run_policies``."""

    def __init__(self, shared: Shared, creation, lifecycle, consolidation, repository):
        self.shared = shared
        self.catalog, self.conf, self.policy = shared.catalog, shared.conf, shared.policy
        self.creation = creation
        self.lifecycle = lifecycle
        self.consolidation = consolidation
        self.repository = repository

    def hold_scheduler_lease(self, holder: str) -> bool:
        """Take or renew the scheduler's lease for ``holder``; False while another
        scheduler holds it."""
        ttl = datetime.timedelta(seconds=self.conf.scheduler_lease_time)
        with self.catalog.session() as session:
            return queries.take_lease(session, LEASE, holder, self.shared.clock(), ttl)

    def release_scheduler_lease(self, holder: str) -> None:
        with self.catalog.session() as session:
            queries.release_lease(session, LEASE, holder)

    def resume_policy_runs(self) -> None:
        """Runs a previous active scheduler left while pruning are finished again (a
        prune repeated deletes only what is still to delete)."""
        with self.catalog.session() as session:
            session.execute(sa.update(BackupPolicyRun).where(
                BackupPolicyRun.status == PRUNING).values(status=RUNNING))

    def finish_policy_runs(self) -> list[str]:
        """Finish (prune) the runs whose backups ended; their ids."""
        return self._finish_backup_runs(self.shared.clock())

    def run_policies(self, dispatcher) -> list[str]:
        """One pass: the ids of the runs started or finished. A policy that fails is
        logged and recorded; the others still run."""
        now = self.shared.clock()
        touched = self._finish_backup_runs(now)
        with self.catalog.session() as session:
            ids = list(session.scalars(sa.select(BackupPolicy.id).where(
                BackupPolicy.deleted.is_(False), BackupPolicy.enabled.is_(True)).order_by(
                BackupPolicy.created_at, BackupPolicy.id)))
        for policy_id in ids:
            try:
                touched += self._start_due(policy_id, dispatcher, now)
            except Exception:  # one broken policy must not stop the others
                LOG.exception("Policy %s: its pass failed", policy_id)
        finished = self._finish_backup_runs(now)
        return touched + [i for i in finished if i not in touched]

    # --- starting ---------------------------------------------------------------------
    def _start_due(self, policy_id: str, dispatcher, now) -> list[str]:
        started = []
        for kind, column in (("backup", BackupPolicy.backed_up_for),
                             ("verify", BackupPolicy.verified_for)):
            with self.catalog.session() as session:
                policy = session.get(BackupPolicy, policy_id)
                schedule = policy.schedule if kind == "backup" else policy.verify_schedule
                if not schedule:
                    continue
                last = getattr(policy, column.key)
                due = policyspec.latest_due(schedule, last, now)
                if due is None:
                    continue
                stmt = sa.update(BackupPolicy).where(
                    BackupPolicy.id == policy_id,
                    column.is_(None) if last is None else column == last)
                if session.execute(stmt.values({column.key: due}), execution_options={
                        "synchronize_session": False}).rowcount != 1:
                    continue  # another scheduler claimed this time
            run_id = self._new_run(policy_id, kind, due, now)
            if kind == "backup":
                self._start_backups(policy_id, run_id, dispatcher)
            else:
                self._verify(policy_id, run_id)
            started.append(run_id)
        return started

    def _new_run(self, policy_id: str, kind: str, due, now) -> str:
        with self.catalog.session() as session:
            run = BackupPolicyRun(id=str(uuid.uuid4()), policy_id=policy_id, kind=kind,
                                  scheduled_for=due, started_at=now, status=RUNNING,
                                  host=self.conf.host, created=[], pruned=[], verified=[],
                                  failures=[])
            session.add(run)
            return run.id

    def _record(self, run_id: str, **lists) -> None:
        """Append to the run's lists (``created``, ``pruned``, ``verified``,
        ``failures``), committed at once so a crash loses nothing already done."""
        with self.catalog.session() as session:
            run = session.get(BackupPolicyRun, run_id)
            for key, items in lists.items():
                setattr(run, key, list(getattr(run, key) or []) + list(items))

    def _end_run(self, run_id: str, now) -> None:
        with self.catalog.session() as session:
            run = session.get(BackupPolicyRun, run_id)
            run.status = FAILED if run.failures else DONE
            run.finished_at = now

    @staticmethod
    def _context(policy: BackupPolicy) -> RequestContext:
        """Who a policy acts as: a member of its project (what created it)."""
        return RequestContext(user_id=policy.user_id or "ember-scheduler",
                              project_id=policy.project_id, roles=("member", "reader"))

    def _start_backups(self, policy_id: str, run_id: str, dispatcher) -> None:
        with self.catalog.session() as session:
            policy = session.get(BackupPolicy, policy_id)
            volumes = [(v.id, v.display_name or v.id) for v in
                       queries.covered_volumes(session, policy)]
        ctx = self._context(policy)
        for volume_id, label in volumes:
            try:
                incremental = self._prepare_chain(ctx, policy, volume_id)
                backup = submit.submit_create_backup(
                    self.creation, ctx, volume_id, dispatcher=dispatcher, incremental=incremental,
                    force=policy.force, metadata={POLICY_KEY: policy.id},
                    name="%s %s" % (policy.name, self.shared.clock().strftime("%Y-%m-%dT%H:%M")))
            except Exception as exc:  # noqa: BLE001 - refused, or run here and failed
                self._record(run_id, failures=["volume %s: %s" % (label, _why(exc))])
                continue
            self._record(run_id, created=[backup["id"]])

    def _prepare_chain(self, ctx, policy: BackupPolicy, volume_id: str) -> bool:
        """Whether the next backup of the volume is an incremental: a full when there is
        none yet, every ``full_every``-th backup, and once the chain reaches
        ``max_chain`` (then, with ``consolidate``, a synthetic full of the newest point
        is made first from the repository and the backup is an incremental on it)."""
        with self.catalog.session() as session:
            backups = queries.live_backups(session, [volume_id])
        usable = [b for b in backups if b.status == BackupStatus.AVAILABLE]
        if not usable:
            return False
        by_id = {b.id: b for b in backups}
        newest = max(usable, key=lambda b: (b.data_timestamp, b.created_at))
        length, member = 1, newest
        while member.parent_id in by_id:
            length, member = length + 1, by_id[member.parent_id]
        if policy.full_every and length >= policy.full_every:
            return False
        if policy.max_chain and length >= policy.max_chain:
            if not policy.consolidate:
                return False
            self._consolidate(ctx, newest.id)
        return True

    # --- finishing: prune ---------------------------------------------------------------
    def _finish_backup_runs(self, now) -> list[str]:
        """End each running backup run whose backups all ended: record the failed ones,
        then prune the policy's volumes."""
        with self.catalog.session() as session:
            running = list(session.scalars(sa.select(BackupPolicyRun).where(
                BackupPolicyRun.kind == "backup", BackupPolicyRun.status == RUNNING)))
            ended = []
            for run in running:
                rows = [session.get(Backup, i) for i in run.created or []]
                if all(r is None or r.deleted or r.status in ENDED for r in rows):
                    ended.append((run.id, run.policy_id, rows))
        finished = []
        for run_id, policy_id, rows in ended:
            with self.catalog.session() as session:  # one finisher per run
                if session.execute(sa.update(BackupPolicyRun).where(
                        BackupPolicyRun.id == run_id, BackupPolicyRun.status == RUNNING
                ).values(status=PRUNING), execution_options={
                        "synchronize_session": False}).rowcount != 1:
                    continue
            failed = ["backup %s: %s" % (r.id, r.fail_reason or r.status) for r in rows
                      if r is not None and r.status != BackupStatus.AVAILABLE]
            gone = {r.id for r in rows if r is None or r.status != BackupStatus.AVAILABLE}
            with self.catalog.session() as session:
                run = session.get(BackupPolicyRun, run_id)
                run.created = [i for i in run.created if i not in gone]
                run.failures = list(run.failures or []) + failed
            self._prune(policy_id, run_id, now)
            self._end_run(run_id, now)
            finished.append(run_id)
        return finished

    def _prune(self, policy_id: str, run_id: str, now) -> None:
        with self.catalog.session() as session:
            policy = session.get(BackupPolicy, policy_id)
            if policy is None or policy.deleted or not policy.retention:
                return
            rules = self._rules(policy.retention)
            volumes = [v.id for v in queries.covered_volumes(session, policy)]
        ctx = self._context(policy)
        for volume_id in volumes:
            points = self._points(policy_id, volume_id)
            decisions = retention.plan(points, rules, now)
            if policy.consolidate and self._consolidate_kept(ctx, run_id, points, decisions):
                points = self._points(policy_id, volume_id)  # each full wins its period
                decisions = retention.plan(points, rules, now)
            self._delete_planned(ctx, run_id, points, decisions)

    def _delete_planned(self, ctx, run_id: str, points, decisions) -> None:
        """Delete what the plan does not keep, children first."""
        for backup_id in retention.deletion_order(decisions, points):
            try:
                self.lifecycle.delete_backup(ctx, backup_id)
                self._record(run_id, pruned=[backup_id])
            except errors.EmberError as exc:
                self._record(run_id, failures=["prune %s: %s" % (backup_id, _why(exc))])
                break  # its parents stay: the chain is whole

    def _points(self, policy_id: str, volume_id: str) -> list:
        """The volume's backups for the planner; those the policy did not make are
        never its to delete (nor, so, their parents)."""
        with self.catalog.session() as session:
            return [retention.Point(b.id, b.parent_id, b.data_timestamp or b.created_at,
                                    b.status, bool(getattr(b, "protected", False))
                                    or (b.properties or {}).get(POLICY_KEY) != policy_id)
                    for b in queries.live_backups(session, [volume_id])]

    def _consolidate(self, ctx, backup_id: str) -> dict:
        return self.consolidation.consolidate_backup(ctx, backup_id)

    def _consolidate_kept(self, ctx, run_id: str, points, decisions) -> bool:
        """A synthetic full of each incremental that a rule keeps only for its period
        (hour, day, week, month, year; being a parent aside): the full holds the same
        point and wins the period, so the incremental and the parents only it needed go
        once no newer backup needs them. True if any was made."""
        made = False
        incremental = {p.id for p in points if p.incremental}
        for decision in decisions:
            own = {r for r in decision.reasons if not r.startswith("parent of ")}
            if not (decision.keep and decision.id in incremental and own
                    and own <= set(retention.PERIODS) - {"hourly"}):
                continue
            try:
                full = self._consolidate(ctx, decision.id)
                self._record(run_id, created=[full["id"]])
                made = True
            except errors.EmberError as exc:
                self._record(run_id, failures=["consolidate %s: %s" % (decision.id,
                                                                       _why(exc))])
        return made

    @staticmethod
    def _rules(saved: dict) -> retention.Rules:
        within = saved.get("keep_within")
        return retention.Rules(
            **{k[len("keep_"):]: int(saved.get(k) or 0) for k in policyspec.KEEP_COUNTS},
            within=retention.Duration.parse(within) if within else None)

    # --- verification ---------------------------------------------------------------------
    def _verify(self, policy_id: str, run_id: str) -> None:
        """Read ``verify_percent`` of the objects of the policy's backups, the least
        recently read backups first (a never-read one counts as read when written), so
        that every object is read once in 100 / percent verifications."""
        from ember.repository.verify import verify_objects

        with self.catalog.session() as session:
            policy = session.get(BackupPolicy, policy_id)
            volumes = [v.id for v in queries.covered_volumes(session, policy)]
            backups = [b for b in queries.live_backups(session, volumes)
                       if b.status == BackupStatus.AVAILABLE]
            last = {v.backup_id: v.verified_at for v in session.scalars(
                sa.select(BackupVerification).where(
                    BackupVerification.backup_id.in_([b.id for b in backups])))}
            members = [(chain_member(b), (b.object_count or 0) + 2) for b in sorted(
                backups, key=lambda b: (last.get(b.id) or b.created_at, b.id))]
        budget = math.ceil(sum(n for _, n in members) * (policy.verify_percent or 100) / 100)
        for member, count in members:
            if budget <= 0:
                break
            budget -= count
            try:
                report = verify_objects(self.shared.driver, member, layout=self.shared.layout)
                problem = report.summary() if report.damaged else None
            except errors.EmberError as exc:
                problem = _why(exc)
            self.repository.note_verified(member.backup_id, problem)
            self._record(run_id, verified=[member.backup_id],
                         failures=[] if problem is None else ["verify %s: %s" % (
                             member.backup_id, problem)])
        self._end_run(run_id, self.shared.clock())
