"""Ember's GlusterFS repository driver (Cinder's ``cinder.backup.drivers.glusterfs.GlusterfsBackupDriver``)."""
