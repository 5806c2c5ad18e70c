"""``OpenStack-API-Version: volume 3.x`` negotiation (the microversion-parse library).

No header means 3.0; ``latest`` means :data:`MAX`; anything outside 3.0..MAX is refused
with 406, a malformed value with 400, both in Cinder's words.
"""

from __future__ import annotations

import microversion_parse

from ember.api.faults import ApiError

SERVICE_TYPE = "volume"
MIN = microversion_parse.Version(3, 0)
MAX = microversion_parse.Version(3, 71)
HEADER = "OpenStack-API-Version"

# the microversions that change what Ember's API accepts or shows (Cinder's names)
BACKUP_UPDATE = (3, 9)
BACKUP_PROJECT = (3, 18)
BACKUP_METADATA = (3, 43)
BACKUP_AZ = (3, 51)
BACKUP_PROJECT_USER_ID = (3, 56)
ENCRYPTION_KEY_ID_IN_DETAILS = (3, 64)
PROJECT_ID_OPTIONAL_IN_URL = (3, 67)


def text(version) -> str:
    return "%d.%d" % tuple(version)


def negotiate(environ) -> microversion_parse.Version:
    """The version the request asks for, checked against MIN..MAX."""
    headers = microversion_parse.headers_from_wsgi_environ(environ)
    wanted = microversion_parse.get_version(headers, service_type=SERVICE_TYPE)
    if wanted is None:
        return MIN
    if wanted.strip().lower() == "latest":
        return MAX
    try:
        version = microversion_parse.parse_version_string(wanted)
    except (TypeError, ValueError):
        raise ApiError(400, "API Version String %s is of invalid format. Must be of format "
                            "MajorNum.MinorNum." % wanted) from None
    if not MIN <= version <= MAX:
        raise ApiError(406, "Version %s is not supported by the API. Minimum is %s and "
                            "maximum is %s." % (wanted, text(MIN), text(MAX)))
    return version
