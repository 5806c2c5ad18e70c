"""Request bodies checked at the edge against JSON schemas shaped like Cinder's, with
Cinder's messages (``Invalid input for field/attribute name. Value: ... .``): one clear
error, the first that jsonschema ranks best, and nothing done."""

from __future__ import annotations

import json

import jsonschema

from ember.api.faults import bad_request

_TRUE = [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t"]
_FALSE = [False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n",
          "f"]
BOOLEAN = {"type": ["boolean", "string"], "enum": _TRUE + _FALSE}
UUID = {"type": "string", "format": "uuid"}
NULLABLE_UUID = {"type": ["string", "null"], "format": "uuid"}
NAME = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
NON_EMPTY_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
METADATA = {"type": ["object", "null"],
            "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": {
                "type": "string", "maxLength": 255}},
            "additionalProperties": False}
SIZE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1,
        "maximum": 2 ** 31 - 1}


def obj(properties: dict, required=(), *, extra=False) -> dict:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": extra}


def wrapped(key: str, inner: dict) -> dict:
    """``{key: inner}`` and nothing else."""
    return obj({key: inner}, [key])


_CHECKER = jsonschema.FormatChecker()


def as_bool(value) -> bool:
    """A checked BOOLEAN value as a bool (strings as Cinder's strict parse)."""
    return value in _TRUE


#: how deeply a request body may nest (Cinder's bodies need 4)
MAX_DEPTH = 32


def parse_json(body: bytes):
    if not body:
        raise bad_request("Malformed request body: a JSON object is required.")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Malformed request body: it is not valid JSON.") from None
    except RecursionError:
        raise _too_deep() from None
    check_text(value)
    return value


def _too_deep():
    return bad_request("Malformed request body: it nests more than %d levels deep."
                       % MAX_DEPTH)


def check_text(value) -> None:
    """400 unless ``value`` nests at most MAX_DEPTH deep and every string in it (keys
    too) is text a database can store: no NUL, no lone UTF-16 surrogate."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            text_problem = bad_text(item)
            if text_problem:
                raise bad_request("Malformed request body: a string %s." % text_problem)


def bad_text(text: str) -> str | None:
    """What makes ``text`` unfit for a name, an id or a filter, or None."""
    if "\x00" in text:
        return "holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone UTF-16 surrogate (not Unicode text)"
    return None


def check(schema: dict, body) -> dict:
    """``body`` if it matches ``schema``, else a 400 naming the first problem."""
    validator = jsonschema.Draft4Validator(schema, format_checker=_CHECKER)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is None:
        return body
    if error.validator in ("required", "additionalProperties") or not error.path:
        raise bad_request(error.message)
    raise bad_request("Invalid input for field/attribute %s. Value: %s. %s"
                      % (error.path[-1], json.dumps(error.instance), error.message))


def query_bool(params, key: str, default=False) -> bool:
    """A boolean query parameter, strictly (``all_tenants=False`` is false)."""
    if key not in params:
        return default
    value = params[key]
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise bad_request("Invalid value '%s' for %s: use true or false." % (value, key))


def query_int(params, key: str, minimum: int = 0):
    if key not in params:
        return None
    try:
        value = int(params[key])
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise bad_request("Invalid %s value '%s': use an integer of at least %d."
                          % (key, params[key], minimum))
    return value
