"""Shape checks for JSON reports: a wrong type is a clear MalformedReportError, never a traceback.

JSON reports come from anyone who can open a pull request. Every value a parser reads is checked
here at the boundary, with the path of the value in the message (``tests[3].call.crash.message``).
"""

from __future__ import annotations

from ingest.errors import MalformedReportError

_NAMES = {dict: "an object", list: "a list", str: "a string", int: "a whole number", float: "a number",
          bool: "true or false", type(None): "null"}


def expect(value, kinds: tuple[type, ...], where: str, source: str, line: int | None = None):
    """Return ``value`` if it is one of ``kinds`` (None is allowed only when listed), else refuse it."""
    if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
        return value
    wanted = " or ".join(dict.fromkeys(_NAMES.get(k, k.__name__) for k in kinds))
    raise MalformedReportError(f"{where} must be {wanted}, not {_describe(value)}", source=source, line=line)


def optional(obj: dict, key: str, kinds: tuple[type, ...], where: str, source: str, line: int | None = None):
    """Return ``obj[key]`` checked against ``kinds``; a missing key or null is None."""
    value = obj.get(key)
    if value is None:
        return None
    return expect(value, kinds, f"{where}.{key}" if where else key, source, line)


def _describe(value) -> str:
    if isinstance(value, bool):
        return "true or false"
    return _NAMES.get(type(value), type(value).__name__)
