"""Ember's Google Cloud Storage repository driver (distribution ember-backup-gcs)."""
