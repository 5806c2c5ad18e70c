"""A fresh, parsed ConfigOpts for tests (never the global cfg.CONF)."""

from oslo_config import cfg

from ember import opts


def make_conf(extra_opts=(), **overrides) -> cfg.ConfigOpts:
    """Core options (plus ``extra_opts``, registered in [DEFAULT]) with no config file
    read and ``overrides`` applied, e.g. ``make_conf(backup_file_size=1 << 20)``."""
    conf = opts.register(cfg.ConfigOpts())
    conf.register_opts(list(extra_opts))
    conf([], project="ember", default_config_files=[], default_config_dirs=[])
    for name, value in overrides.items():
        conf.set_override(name, value)
    return conf
