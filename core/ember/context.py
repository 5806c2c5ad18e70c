"""Who is asking: the request context every service call receives.

Ember is single-user by default (``RequestContext.default()`` is an admin in project
``default``); the fields mirror ``oslo.context`` so Cinder's policy rules apply as written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """An immutable caller identity: user, project and roles."""

    user_id: str = "admin"
    project_id: str = "default"
    roles: tuple[str, ...] = ("admin", "member", "reader")

    @property
    def is_admin(self) -> bool:
        """True when the caller holds the ``admin`` role (Cinder's ``context_is_admin``)."""
        return "admin" in self.roles

    @classmethod
    def default(cls) -> RequestContext:
        """The single-user context: admin in project ``default``."""
        return cls()

    def to_policy_values(self) -> dict:
        """The credentials dict oslo.policy checks rules against."""
        return {
            "user_id": self.user_id,
            "project_id": self.project_id,
            "roles": list(self.roles),
            "is_admin": self.is_admin,
            "system_scope": None,
            "domain_id": None,
        }
