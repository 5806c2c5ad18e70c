"""``ember-api``: the Block Storage API on one host, under gunicorn, in one command.

    ember-api [--config-file FILE]... [--config-dir DIR]...

It listens on ``osapi_volume_listen``:``osapi_volume_listen_port`` with
``osapi_volume_workers`` processes. Any other WSGI server can serve
``ember.api.wsgi:application`` instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ember import config, errors
from ember.api import opts as api_opts


#: connections one process holds open at once (Cinder's eventlet pool: 1,000 requests)
WORKER_CONNECTIONS = 4096


def load_conf(config_files=(), config_dirs=()):
    from oslo_config import cfg

    conf = api_opts.register(cfg.ConfigOpts())
    return config.load([f for f in config_files if f], [d for d in config_dirs if d],
                       conf=conf)


def load_app(config_files=(), config_dirs=()):
    from ember.api.app import make_app

    return make_app(load_conf(config_files, config_dirs))


def _gunicorn(conf, app_factory):
    from gunicorn.app.base import BaseApplication

    class EmberApi(BaseApplication):
        def load_config(self):
            binds = ["%s:%d" % (conf.osapi_volume_listen, conf.osapi_volume_listen_port)]
            if conf.metrics_listen_port:  # GET /metrics without a token (ember.api.pages)
                binds.append("%s:%d" % (conf.metrics_listen, conf.metrics_listen_port))
            self.cfg.set("bind", binds)
            self.cfg.set("workers", conf.osapi_volume_workers or os.cpu_count() or 1)
            # gthread's threads, given to a connection only once its headers are in
            self.cfg.set("worker_class", "ember.api.worker.HeaderFirstWorker")
            self.cfg.set("threads", 4)
            self.cfg.set("worker_connections", WORKER_CONNECTIONS)
            self.cfg.set("proc_name", "ember-api")
            self.cfg.set("accesslog", "-")

        def load(self):
            return app_factory()

    return EmberApi()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="ember-api", description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", action="append", default=[],
                        help="a configuration file (repeatable; later files win)")
    parser.add_argument("--config-dir", action="append", default=[],
                        help="a directory of *.conf files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s "
                                                   "%(name)s %(message)s")
    try:
        conf = load_conf(args.config_file, args.config_dir)
        if conf.auth_strategy == "keystone" and not _authtoken_configured(conf):
            raise errors.ConfigError("auth_strategy = keystone needs [keystone_authtoken] "
                                     "www_authenticate_uri and auth_url; set them, or "
                                     "auth_strategy = noauth for a private single host.")
        from ember.service import manage

        manage.open_catalogue(conf)  # migrated once here, before the processes fork
    except errors.EmberError as exc:
        print("ember-api: %s" % exc, file=sys.stderr)
        return 1

    def app_factory():
        from ember.api.app import make_app

        app = make_app(conf)
        logging.getLogger(__name__).info("ember-api process %d is serving", os.getpid())
        return app

    _gunicorn(conf, app_factory).run()
    return 0


def _authtoken_configured(conf) -> bool:
    from keystonemiddleware import auth_token

    for group, options in auth_token.list_opts():
        conf.register_opts(options, group=group)
    return bool(conf.keystone_authtoken.www_authenticate_uri)


if __name__ == "__main__":
    sys.exit(main())
