"""Ember's S3 repository driver (distribution ember-backup-s3)."""
