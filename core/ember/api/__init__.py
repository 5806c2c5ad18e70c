"""Ember's Block Storage v3 API: the subset of Cinder's REST API that the stock
``openstack`` and ``cinder`` clients use for backups, served as a WSGI application.

``ember.api.app.make_app(conf)`` builds it (auth middleware chosen by
``auth_strategy``); ``ember.api.server`` runs it under gunicorn (the ``ember-api``
command) and ``ember.api.wsgi:application`` is the entry for any WSGI server.
"""
