"""The API's options, named and defaulted as in cinder.conf (``osapi_volume_*``,
``auth_strategy``, ``osapi_max_limit``)."""

from oslo_config import cfg

api_opts = [
    cfg.HostAddressOpt("osapi_volume_listen", default="0.0.0.0",
                       help="IP address on which the Block Storage API listens."),
    cfg.PortOpt("osapi_volume_listen_port", default=8776,
                help="Port on which the Block Storage API listens."),
    cfg.IntOpt("osapi_volume_workers", min=1,
               help="Number of API worker processes (gunicorn workers). Default: the "
                    "number of CPUs."),
    cfg.StrOpt("auth_strategy", default="keystone", choices=("noauth", "keystone"),
               help="keystone: tokens are checked by keystonemiddleware ([keystone_authtoken]"
                    " options); noauth: the X-Auth-Token 'user:project' is trusted and every "
                    "caller is an administrator, as Cinder's noauth (tests and a private "
                    "single host only)."),
    cfg.PortOpt("metrics_listen_port",
                help="A second port on which ember-api answers GET /metrics without "
                     "authentication (and nothing else), for Prometheus. Unset: /metrics "
                     "is served only on the API port, to administrators' tokens. Only "
                     "under ember-api's gunicorn, which tells the port a request came in on."),
    cfg.HostAddressOpt("metrics_listen", default="127.0.0.1",
                       help="Address of the metrics_listen_port listener: keep it on a "
                            "network only the monitoring system reaches."),
    cfg.IntOpt("osapi_max_limit", default=1000, min=1,
               help="The most items a list request returns in one page."),
    cfg.IntOpt("backup_api_threads", default=4, min=1,
               help="Background threads of ember-api that run backups, restores and deletes "
                    "when no transport_url sends them to backup workers."),
]


def register(conf):
    conf.register_opts(api_opts)
    return conf


def list_opts():
    return [(None, api_opts)]
