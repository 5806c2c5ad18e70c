"""The ``ember`` command line: a cliff application whose commands are entry points in
the ``ember.cli`` group (so a plugin can add its own)."""
