"""The engine: Cinder's chunked backup format written and read through a driver.

``engine`` is the facade that runs backups (``backup_run``) and restores
(``restore_run``) from what ``spec`` describes, ``pipeline`` overlaps reading, hashing,
compressing and writing, ``blocks`` reads and writes the volume, ``compression`` holds
the codecs, ``extents`` the changed-block runs, ``cbt`` which ranges of a volume can
have changed since its last backup (reflink clones), ``format`` the repository's records
(described in ``docs/format.md``), ``imagecheck`` checks a restored image against its
backup's SHA-256 list. The engine talks to storage only through the driver
contract (``ember.driver``); the service above it owns the catalogue.
"""
