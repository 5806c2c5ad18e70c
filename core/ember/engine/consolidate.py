"""Consolidation (a synthetic full): a chain's restore point written as a new full
backup, from the repository alone.

Nothing new is invented: the chain is replayed by the engine's restore (its plan reads
and checks every member's documents, merges extents so each byte range is read once
from the newest member holding it, and checks the result against the tip's
``_sha256file``) into a sparse staging image, and that image is backed up by the
engine's full backup (Cinder's objects, ``_sha256file`` then ``_metadata``). Holes and
zero runs stay holes in the staging image (a new, zeroed target skips zero writes) and
cost the backup nothing, so the staging image takes the restore point's data, not the
volume's size. The result carries the tip's ``volume_meta``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from ember import volumes as vols
from ember.engine.engine import Engine
from ember.engine.plan import RestorePlan
from ember.engine.spec import BackupResult, BackupSpec, CancelToken, ChainMember, Progress


def consolidate(engine: Engine, chain: Sequence[ChainMember], spec: BackupSpec,
                staging_path: str, *, plan: RestorePlan | None = None,
                cancel: CancelToken | None = None,
                progress: Progress | None = None) -> BackupResult:
    """Write ``chain``'s restore point as the full backup ``spec`` (its ``source_path``,
    ``parent`` and ``volume_meta`` are replaced). ``staging_path`` must not exist; it is
    removed again whatever happens. ``progress`` sees the restore, then the backup, as
    one run of twice the volume's size."""
    plan = plan if plan is not None else engine.plan_restore(chain)
    size = plan.volume_size

    def phase(base: int):
        if progress is None:
            return None
        return lambda done, _total: progress(base + done * size // max(_total, 1), 2 * size)

    vols.create_sparse(staging_path, size)
    try:
        engine.restore(plan.chain, staging_path, target_is_new=True, plan=plan,
                       cancel=cancel, progress=phase(0))
        full = dataclasses.replace(spec, source_path=staging_path, parent=None,
                                   volume_meta=plan.volume_meta, changed=None)
        return engine.backup(full, cancel=cancel, progress=phase(size))
    finally:
        vols.remove(staging_path)


def staging_name(state_dir: str, backup_id: str) -> str:
    """Where the staging image of the consolidation into ``backup_id`` lives."""
    return os.path.join(state_dir, "consolidate-%s.img" % backup_id)
