"""SQLAlchemy 2 models of the catalogue: volumes, snapshots and backups.

Columns and statuses follow Cinder's Block Storage database (``docs/format.md``, The
catalogue around the format); rows are soft-deleted (``deleted``/``deleted_at``) as in
Cinder. Datetimes are stored as naive UTC with microseconds (MySQL needs ``DATETIME(6)``
for that). ``owner_host``, ``owner_pid`` and ``heartbeat_at`` mark which process runs an
operation on a row, so a crashed one can be told from a live one.
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: naive UTC with microseconds on every backend
DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
UUID = sa.String(36)
NAME = sa.String(255)


def utcnow() -> datetime.datetime:
    """Naive UTC now, as stored in the catalogue."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class _Timestamps:
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, onupdate=utcnow)
    deleted_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)


class _Ownership:
    """Which process is working on the row (crash safety)."""

    owner_host: Mapped[str | None] = mapped_column(NAME)
    owner_pid: Mapped[int | None] = mapped_column(sa.Integer)
    heartbeat_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class Volume(_Timestamps, _Ownership, Base):
    __tablename__ = "volumes"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    user_id: Mapped[str | None] = mapped_column(NAME)
    project_id: Mapped[str | None] = mapped_column(NAME, index=True)
    display_name: Mapped[str | None] = mapped_column(NAME, index=True)
    display_description: Mapped[str | None] = mapped_column(NAME)
    size: Mapped[int] = mapped_column(sa.Integer)  # GiB, rounded up, as Cinder shows it
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)  # the image's real length
    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    previous_status: Mapped[str | None] = mapped_column(sa.String(32))
    path: Mapped[str] = mapped_column(sa.String(4096))
    owns_path: Mapped[bool] = mapped_column(sa.Boolean, default=True)  # made by Ember
    instance_id: Mapped[str | None] = mapped_column(NAME)
    properties: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    encryption_key_id: Mapped[str | None] = mapped_column(UUID)
    volume_type_id: Mapped[str | None] = mapped_column(UUID)
    bootable: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    availability_zone: Mapped[str | None] = mapped_column(NAME)
    host: Mapped[str | None] = mapped_column(NAME)


class Snapshot(_Timestamps, Base):
    __tablename__ = "snapshots"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    user_id: Mapped[str | None] = mapped_column(NAME)
    project_id: Mapped[str | None] = mapped_column(NAME, index=True)
    volume_id: Mapped[str] = mapped_column(UUID, index=True)
    display_name: Mapped[str | None] = mapped_column(NAME)
    display_description: Mapped[str | None] = mapped_column(NAME)
    size: Mapped[int] = mapped_column(sa.Integer)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(32))
    path: Mapped[str] = mapped_column(sa.String(4096))
    temporary: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # an in-use backup's


class Backup(_Timestamps, _Ownership, Base):
    __tablename__ = "backups"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    user_id: Mapped[str | None] = mapped_column(NAME)
    project_id: Mapped[str | None] = mapped_column(NAME, index=True)
    volume_id: Mapped[str] = mapped_column(UUID, index=True)
    host: Mapped[str | None] = mapped_column(NAME)
    availability_zone: Mapped[str | None] = mapped_column(NAME)
    display_name: Mapped[str | None] = mapped_column(NAME)
    display_description: Mapped[str | None] = mapped_column(NAME)
    container: Mapped[str | None] = mapped_column(NAME)
    parent_id: Mapped[str | None] = mapped_column(UUID, index=True)
    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    fail_reason: Mapped[str | None] = mapped_column(NAME)
    service_metadata: Mapped[str | None] = mapped_column(NAME)
    service: Mapped[str | None] = mapped_column(NAME)
    size: Mapped[int | None] = mapped_column(sa.Integer)  # GiB of the source volume
    # Ember only: the source's length in bytes, to size a new restore target exactly
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    object_count: Mapped[int | None] = mapped_column(sa.Integer)
    temp_volume_id: Mapped[str | None] = mapped_column(UUID)
    temp_snapshot_id: Mapped[str | None] = mapped_column(UUID)
    num_dependent_backups: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    snapshot_id: Mapped[str | None] = mapped_column(UUID)
    data_timestamp: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    restore_volume_id: Mapped[str | None] = mapped_column(UUID)
    encryption_key_id: Mapped[str | None] = mapped_column(UUID)
    properties: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # Cinder's metadata
    # Ember only: how the backup read its source (changed extents only, or everything
    # and why), one line for ``show``
    change_tracking: Mapped[str | None] = mapped_column(NAME)
    # Ember only: bytes of data objects the backup put into the repository (None when
    # unknown: imported, or made before this was recorded)
    stored_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    # Ember only: exempt from delete and prune until unprotected (like Benji's protect)
    protected: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False,
                                            server_default=sa.false())

    __table_args__ = (
        # metrics and the dashboard read these alone (covering), never the table
        sa.Index("ix_backups_volume_summary", "deleted", "volume_id", "status",
                 "data_timestamp", "parent_id", "project_id", "stored_bytes", "created_at"),
        sa.Index("ix_backups_container_usage", "deleted", "container", "stored_bytes",
                 "object_count"),
        sa.Index("ix_backups_created_at", "created_at"),
        sa.Index("ix_backups_deleted_at", "deleted_at"),
    )


class Quota(_Timestamps, Base):
    """A project's own limit for one resource (Cinder's ``quotas``); absent → the default."""

    __tablename__ = "quotas"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str | None] = mapped_column(NAME, index=True)
    resource: Mapped[str] = mapped_column(NAME)
    hard_limit: Mapped[int | None] = mapped_column(sa.Integer)
    allocated: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)


class QuotaClass(_Timestamps, Base):
    """The limit of one resource for a quota class (``default``: every project's)."""

    __tablename__ = "quota_classes"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    class_name: Mapped[str | None] = mapped_column(NAME, index=True)
    resource: Mapped[str | None] = mapped_column(NAME)
    hard_limit: Mapped[int | None] = mapped_column(sa.Integer)


class QuotaUsage(_Timestamps, Base):
    """A project's usage of one resource. Creators lock this row (SELECT ... FOR UPDATE)
    while they count and insert, so two concurrent creates cannot both pass a limit."""

    __tablename__ = "quota_usages"
    __table_args__ = (sa.UniqueConstraint("project_id", "resource",
                                          name="uniq_quota_usages0project_id0resource"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str | None] = mapped_column(NAME, index=True)
    resource: Mapped[str | None] = mapped_column(NAME)
    in_use: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    reserved: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    until_refresh: Mapped[int | None] = mapped_column(sa.Integer)


class Service(_Timestamps, Base):
    """A running Ember service (Cinder's ``services``): ``updated_at`` is its last
    heartbeat, ``report_count`` how many it sent."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    host: Mapped[str | None] = mapped_column(NAME)
    binary: Mapped[str | None] = mapped_column(NAME)
    topic: Mapped[str | None] = mapped_column(NAME)
    report_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    disabled: Mapped[bool | None] = mapped_column(sa.Boolean, default=False)
    availability_zone: Mapped[str | None] = mapped_column(NAME)
    disabled_reason: Mapped[str | None] = mapped_column(NAME)
    modified_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    rpc_current_version: Mapped[str | None] = mapped_column(sa.String(36))
    object_current_version: Mapped[str | None] = mapped_column(sa.String(36))
    replication_status: Mapped[str | None] = mapped_column(sa.String(36))
    active_backend_id: Mapped[str | None] = mapped_column(NAME)
    frozen: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    cluster_name: Mapped[str | None] = mapped_column(NAME)
    uuid: Mapped[str | None] = mapped_column(sa.String(36), unique=True)


class BackupPolicy(_Timestamps, Base):
    """A backup policy (an Ember extension): when to back up the volumes it applies to,
    when a backup is a full, which restore points to keep, and how much to verify."""

    __tablename__ = "backup_policies"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(NAME, index=True)
    user_id: Mapped[str | None] = mapped_column(NAME)
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(NAME)
    schedule: Mapped[str] = mapped_column(NAME)  # cron syntax (croniter)
    full_every: Mapped[int | None] = mapped_column(sa.Integer)
    max_chain: Mapped[int | None] = mapped_column(sa.Integer)
    retention: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # keep_* rules
    consolidate: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    verify_schedule: Mapped[str | None] = mapped_column(NAME)
    verify_percent: Mapped[int | None] = mapped_column(sa.Integer)
    force: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    # the project's default: applies to every volume of the project no policy names
    project_default: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True, nullable=False)
    # the newest schedule time already handled (None: never run, due at once)
    backed_up_for: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    verified_for: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class BackupPolicyVolume(Base):
    """A volume a policy applies to by name; a volume is in at most one policy."""

    __tablename__ = "backup_policy_volumes"

    volume_id: Mapped[str] = mapped_column(UUID, primary_key=True)
    policy_id: Mapped[str] = mapped_column(UUID, index=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class BackupPolicyRun(Base):
    """One run of a policy by the scheduler: what it created, pruned and verified, and
    what failed and why (lists of ids and of one-line reasons)."""

    __tablename__ = "backup_policy_runs"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    policy_id: Mapped[str] = mapped_column(UUID, index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # backup | verify
    scheduled_for: Mapped[datetime.datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(sa.String(16))  # running | done | failed
    host: Mapped[str | None] = mapped_column(NAME)
    created: Mapped[list] = mapped_column(sa.JSON, default=list)
    pruned: Mapped[list] = mapped_column(sa.JSON, default=list)
    verified: Mapped[list] = mapped_column(sa.JSON, default=list)
    failures: Mapped[list] = mapped_column(sa.JSON, default=list)


class BackupVerification(Base):
    """When a backup's own objects were last read and checked (for the rotation of a
    policy's partial verification: the least recently checked are read first)."""

    __tablename__ = "backup_verifications"

    backup_id: Mapped[str] = mapped_column(UUID, primary_key=True)
    verified_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    damaged: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    detail: Mapped[str | None] = mapped_column(NAME)


class Lease(Base):
    """A named lease (``scheduler``): held by one process until ``expires_at``; taken
    and renewed by conditional UPDATEs, so of two contenders exactly one holds it."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(NAME)
    acquired_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime)


class BackupOperation(Base):
    """One run of an operation on a backup (``create``, ``restore``, ``delete``,
    ``verify``): where and when it ran, how far it got, how it ended. Inserted when the
    run starts (``running``), its progress refreshed while it runs, closed once
    (``succeeded``, ``failed`` or ``cancelled``). Metrics and the dashboard read it; a
    ``running`` row whose backup left its working status is work that died."""

    __tablename__ = "backup_operations"
    __table_args__ = (
        sa.Index("ix_backup_operations_volume", "kind", "status", "volume_id", "finished_at"),
        sa.Index("ix_backup_operations_project", "project_id", "id"),
        sa.Index("ix_backup_operations_outcome", "status", "kind", "duration_seconds",
                 "total_bytes"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    backup_id: Mapped[str] = mapped_column(UUID, index=True)
    volume_id: Mapped[str | None] = mapped_column(UUID)  # the backup's volume
    project_id: Mapped[str | None] = mapped_column(NAME)
    host: Mapped[str | None] = mapped_column(NAME)
    status: Mapped[str] = mapped_column(sa.String(16))
    started_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    duration_seconds: Mapped[float | None] = mapped_column(sa.Float)
    done_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    total_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    fail_reason: Mapped[str | None] = mapped_column(NAME)
