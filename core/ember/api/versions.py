"""The version documents at ``/`` (300 Multiple Choices, as Cinder) and ``/v3/``."""

from __future__ import annotations

from ember.api import microversion

UPDATED = "2023-08-31T00:00:00Z"  # Cinder's date for 3.71


def v3(base_url: str) -> dict:
    return {"id": "v3.0", "status": "CURRENT", "version": microversion.text(microversion.MAX),
            "min_version": microversion.text(microversion.MIN), "updated": UPDATED,
            "links": [{"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": base_url.rstrip("/") + "/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


def document(base_url: str) -> dict:
    return {"versions": [v3(base_url)]}
