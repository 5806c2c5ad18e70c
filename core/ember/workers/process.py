"""What the long-running processes of ``ember.workers`` (``ember-backup``,
``ember-scheduler``) do first: parse the options they share, log to standard error, load
the configuration."""

from __future__ import annotations

import argparse
import logging
import sys

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def parser(prog: str, description: str, host: str) -> argparse.ArgumentParser:
    """The options every such process takes: configuration files and directories, and
    ``--host`` (``host`` says whose name it is)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config-file", metavar="PATH", action="append", default=[],
                        help="Configuration file (repeatable; default: the ember.conf "
                             "search of the ember command)")
    parser.add_argument("--config-dir", metavar="DIR", action="append", default=[],
                        help="Directory of *.conf files read after the config files")
    parser.add_argument("--host", metavar="NAME",
                        help="Name of %s (default: [DEFAULT] host)" % host)
    return parser


def log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)


def load_conf(args):
    """The configuration named by ``--config-file``/``--config-dir``, with ``--host``."""
    from ember import config  # late: --help answers before oslo.config is imported

    conf = config.load(args.config_file, args.config_dir)
    if args.host:
        conf.set_override("host", args.host)
    return conf
