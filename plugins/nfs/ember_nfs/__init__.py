"""Ember's NFS repository driver (Cinder's ``cinder.backup.drivers.nfs.NFSBackupDriver``)."""
