"""Backup work on many hosts: ``ember-backup`` workers fed over oslo.messaging RPC.

``ember.workers.rpc`` holds the transport and the one RPC method; ``ember.workers.worker``
is the ``ember-backup`` service; ``ember.workers.dispatcher`` hands begun work to a worker.
These call only ``ember.service`` (ownership and routing live in ``service/handoff.py``).
"""
