"""``application`` for any WSGI server (``gunicorn 'ember.api.wsgi:application'``); the
configuration files come from ``EMBER_CONFIG_FILES`` (colon-separated) or oslo.config's
default search for ``ember.conf``."""

from __future__ import annotations

import os

from ember.api.server import load_app

application = load_app(os.environ.get("EMBER_CONFIG_FILES", "").split(":"))
