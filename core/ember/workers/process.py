"""What the long-running processes of ``ember.workers`` (``ember-backup``,
``ember-scheduler``) do first: log to standard error, load the configuration."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)


def load_conf(args):
    """The configuration named by ``--config-file``/``--config-dir``, with ``--host``."""
    from ember import config  # late: --help answers before oslo.config is imported

    conf = config.load(args.config_file, args.config_dir)
    if args.host:
        conf.set_override("host", args.host)
    return conf
