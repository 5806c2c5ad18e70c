"""Ember's posix repository driver (``backup_driver = posix``)."""
