"""Queries of the backup policy tables: which volumes a policy covers, its runs, the
views the service returns, and the scheduler's lease (one conditional UPDATE decides
who holds it, on SQLite, PostgreSQL and MariaDB alike)."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ember.catalog.models import (Backup, BackupPolicy, BackupPolicyRun, BackupPolicyVolume,
                                  Lease, Volume)
from ember.catalog.views import iso

#: runs ``show`` returns, newest first
RUNS_SHOWN = 10


def named_volumes(session: Session, policy_id: str) -> list[str]:
    return list(session.scalars(sa.select(BackupPolicyVolume.volume_id).where(
        BackupPolicyVolume.policy_id == policy_id).order_by(BackupPolicyVolume.volume_id)))


def covered_volumes(session: Session, policy: BackupPolicy) -> list[Volume]:
    """The live volumes ``policy`` applies to: those it names, and for a project default
    every volume of its project that no policy names."""
    named = sa.select(BackupPolicyVolume.volume_id)
    live = sa.select(Volume).where(Volume.deleted.is_(False),
                                   Volume.project_id == policy.project_id)
    if policy.project_default:
        mine = named.where(BackupPolicyVolume.policy_id == policy.id)
        stmt = live.where(sa.or_(Volume.id.in_(mine), Volume.id.not_in(named)))
    else:
        stmt = live.where(Volume.id.in_(named.where(BackupPolicyVolume.policy_id
                                                    == policy.id)))
    return list(session.scalars(stmt.order_by(Volume.created_at, Volume.id)))


def live_backups(session: Session, volume_ids) -> list[Backup]:
    return list(session.scalars(sa.select(Backup).where(
        Backup.deleted.is_(False), Backup.volume_id.in_(list(volume_ids))).order_by(
        Backup.data_timestamp, Backup.created_at)))


def runs(session: Session, policy_id: str, limit: int = RUNS_SHOWN) -> list[BackupPolicyRun]:
    return list(session.scalars(sa.select(BackupPolicyRun).where(
        BackupPolicyRun.policy_id == policy_id).order_by(
        BackupPolicyRun.started_at.desc(), BackupPolicyRun.id).limit(limit)))


def policy_view(row: BackupPolicy, volumes: list[str]) -> dict:
    return {"id": row.id, "name": row.name, "description": row.description,
            "project_id": row.project_id, "schedule": row.schedule,
            "full_every": row.full_every, "max_chain": row.max_chain,
            "retention": dict(row.retention or {}), "consolidate": row.consolidate,
            "verify_schedule": row.verify_schedule, "verify_percent": row.verify_percent,
            "force": row.force, "project_default": row.project_default,
            "enabled": row.enabled, "volumes": volumes,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


def run_view(row: BackupPolicyRun) -> dict:
    return {"id": row.id, "kind": row.kind, "status": row.status,
            "scheduled_for": iso(row.scheduled_for), "started_at": iso(row.started_at),
            "finished_at": iso(row.finished_at), "host": row.host,
            "created": list(row.created or []), "pruned": list(row.pruned or []),
            "verified": list(row.verified or []), "failures": list(row.failures or [])}


def take_lease(session: Session, name: str, holder: str, now: datetime.datetime,
               ttl: datetime.timedelta) -> bool:
    """Take or renew the lease ``name`` for ``holder`` until ``now + ttl``: granted when
    nobody holds it, ``holder`` does, or its holder's time ran out. One conditional
    UPDATE (or the first INSERT) decides, so two contenders never both win."""
    taken = session.execute(
        sa.update(Lease).where(Lease.name == name, sa.or_(
            Lease.holder == holder, Lease.expires_at < now)).values(
            holder=holder, expires_at=now + ttl, acquired_at=sa.case(
                (Lease.holder == holder, Lease.acquired_at), else_=now)),
        execution_options={"synchronize_session": False}).rowcount == 1
    if taken:
        return True
    if session.get(Lease, name) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Lease(name=name, holder=holder, acquired_at=now,
                              expires_at=now + ttl))
        return True
    except IntegrityError:  # another contender inserted it first
        return False


def release_lease(session: Session, name: str, holder: str) -> None:
    session.execute(sa.delete(Lease).where(Lease.name == name, Lease.holder == holder),
                    execution_options={"synchronize_session": False})


def lease_holder(session: Session, name: str, now: datetime.datetime) -> str | None:
    row = session.get(Lease, name)
    return row.holder if row is not None and row.expires_at >= now else None
