"""The request object every controller receives: webob's, plus the caller's context,
the negotiated microversion, the service and the dispatcher."""

from __future__ import annotations

import webob

from ember.api import validation


class ApiRequest(webob.Request):
    @property
    def context(self):
        return self.environ["ember.context"]

    @property
    def version(self):
        return self.environ["ember.api_version"]

    @property
    def service(self):
        return self.environ["ember.service"]

    @property
    def dispatcher(self):
        return self.environ["ember.dispatcher"]

    def matches(self, version) -> bool:
        """True when the request's microversion is at least ``version`` (a pair)."""
        return tuple(self.version) >= tuple(version)

    def body_checked(self, schema: dict) -> dict:
        """The JSON body, checked against ``schema`` (400 on the first problem)."""
        return validation.check(schema, validation.parse_json(self.body))

    def base(self) -> str:
        """``http://host:port/v3/<project>`` (or ``/v3``) of this request, for links."""
        return self._link_bases()[0]

    def _link_bases(self) -> tuple[str, str]:
        """(self base, bookmark base), worked out once per request (lists need 1,000)."""
        bases = self.environ.get("ember.link_bases")
        if bases is None:
            project = self.environ.get("ember.url_project")
            tail = "/" + project if project else ""
            bases = self.environ["ember.link_bases"] = (self.host_url + "/v3" + tail,
                                                        self.host_url + tail)
        return bases

    def link(self, collection: str, item_id: str) -> list:
        base, bookmark = self._link_bases()
        return [{"href": "%s/%s/%s" % (base, collection, item_id), "rel": "self"},
                {"href": "%s/%s/%s" % (bookmark, collection, item_id), "rel": "bookmark"}]
