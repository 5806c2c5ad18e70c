"""The RPC between the process that begins work and the ``ember-backup`` workers.

One method, ``take(operation, ids, owner_host, owner_pid)``, sent with ``call`` to one
worker (``Target(topic=TOPIC, server=<host>)``). oslo.messaging's RPC server acknowledges
the AMQP message as it arrives, so the acknowledgement that matters is the reply: the
worker answers only after its claim on the row is committed, and until an answer comes
the sender keeps the work and offers it again (the claim is conditional on the previous
owner, so offering twice never runs anything twice).
"""

from __future__ import annotations

import importlib
import warnings

with warnings.catch_warnings():
    # oslo.messaging pulls in eventlet, whose import warns on stderr; Ember does not use
    # eventlet (the threading executor), and the warning would garble one-line output
    warnings.simplefilter("ignore")
    import oslo_messaging as messaging

from ember.context import RequestContext
from ember.service.dispatch import transport_configured  # noqa: F401 (one definition)

#: not Cinder's "cinder-backup": a RabbitMQ shared with Cinder must not deliver to it
TOPIC = "ember-backup"
VERSION = "1.0"
#: answers of ``take`` besides ``ember.service.handoff``'s TAKEN, MINE and GONE
BUSY = "busy"


def transport(conf):
    _register_opts(conf)
    return messaging.get_rpc_transport(conf)


def _register_opts(conf) -> None:
    """oslo.messaging 18.3's RPC client reads ``[oslo_messaging_metrics]`` and
    ``[oslo_messaging_tracing]`` from the configuration it is given but registers them
    on its global ``cfg.CONF`` only (and lists no tracing options); Ember's
    configuration is its own object."""
    from oslo_messaging import opts

    for group, group_opts in opts.list_opts():
        conf.register_opts(group_opts, group=None if group == "DEFAULT" else group)
    for module, name in (("oslo_messaging._metrics.client", "oslo_messaging_metrics"),
                         ("oslo_messaging._tracing.client", "oslo_messaging_tracing")):
        try:
            group_opts = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):  # an oslo.messaging without them
            continue
        conf.register_opts(group_opts, group=name)


def target(server: str | None = None):
    return messaging.Target(topic=TOPIC, server=server, version=VERSION)


def context_to_dict(ctx: RequestContext) -> dict:
    return {"user_id": ctx.user_id, "project_id": ctx.project_id, "roles": list(ctx.roles)}


def context_from_dict(values: dict) -> RequestContext:
    return RequestContext(user_id=str(values.get("user_id")),
                          project_id=str(values.get("project_id")),
                          roles=tuple(str(r) for r in values.get("roles") or ()))
