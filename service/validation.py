"""Validation errors as lines that name the field and the rule, never the submitted value.

Pydantic's error dicts carry the rejected ``input``, and a few of its messages
quote part of it (a union tag, a UUID character); locations may hold dict keys
the client chose. A body can be a policy, a sample event with personal data or
a token, so every place that turns a :class:`~pydantic.ValidationError` into
text (422 bodies, start-up errors, ``check-config``, logs) goes through
:func:`describe_errors`: keys that do not look like field names become
``<key>``, and a message that repeats any string of the input is replaced by
the error type.

Examples
--------
>>> from pydantic import BaseModel
>>> class M(BaseModel):
...     n: int
>>> try:
...     M.model_validate({"n": "jane@example.com"})
... except ValidationError as exc:
...     describe_errors(exc.errors())
[('n', 'Input should be a valid integer, unable to parse string as an integer')]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

#: A location segment shown as it is: a field-like name (letters, digits, ``_``, ``-``).
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
#: Input strings shorter than this are not looked for in messages (too many false hits).
_MIN_ECHO = 4
_MAX_STRINGS = 2_000


def location(loc: Sequence[Any]) -> str:
    """Dotted location with list indexes kept and client-chosen keys hidden unless field-like."""
    parts = []
    for part in loc:
        if (
            isinstance(part, int)
            or part == "[key]"
            or (isinstance(part, str) and _FIELD_NAME.match(part))
        ):
            parts.append(str(part))
        else:
            parts.append("<key>")
    return ".".join(parts)


def _strings(value: Any, out: set[str], depth: int = 0) -> None:
    """Every string value in ``value`` (not dict keys), bounded in count and depth."""
    if len(out) >= _MAX_STRINGS or depth > 32:
        return
    if isinstance(value, str):
        if len(value) >= _MIN_ECHO:
            out.add(value)
    elif isinstance(value, bytes):
        _strings(value.decode("utf-8", "replace"), out, depth + 1)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
        if len(text) >= _MIN_ECHO:
            out.add(text)
    elif isinstance(value, Mapping):
        # Keys are field names, which messages name on purpose; values are what is not repeated.
        for item in value.values():
            _strings(item, out, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _strings(item, out, depth + 1)


def safe_message(error: Mapping[str, Any]) -> str:
    """The error's message, or its type when the message repeats a string of the input."""
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    found: set[str] = set()
    _strings(error.get("input"), found)
    # A validator's own message may quote what it rejected; the input names it.
    if any(s in message for s in found):
        return f"invalid value ({error.get('type', 'value_error')})"
    return message


#: Names a location better than its dotted form (a rule's name instead of its index): gets
#: the raw location and the value-free dotted one; must itself return value-free text.
Relabel = Callable[[tuple[Any, ...], str], str]


def describe_errors(
    errors: Iterable[Mapping[str, Any]], relabel: Relabel | None = None
) -> list[tuple[str, str]]:
    """``(location, message)`` per error, value-free (see the module docstring).

    The one formatter of validation errors: every message Guardian shows for a
    :class:`~pydantic.ValidationError` (422 bodies, start-up, ``check-config``,
    DLQ details, logs) comes from here, usually through :func:`describe_lines`.
    """
    out = []
    for e in errors:
        loc = tuple(e.get("loc", ()))
        where = location(loc)
        if relabel is not None:
            where = relabel(loc, where)
        out.append((where, safe_message(e)))
    return out


def yaml_problem(exc: Exception) -> str:
    """Where a YAML document is broken, without the snippet PyYAML quotes from it."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"not valid YAML (line {mark.line + 1}, column {mark.column + 1})"
    return "not valid YAML"


def describe_lines(
    exc: ValidationError | Iterable[Mapping[str, Any]],
    root: str = "<root>",
    prefix: str | None = None,
    relabel: Relabel | None = None,
    limit: int | None = None,
) -> list[str]:
    """One ``"<location>: <message>"`` line per error of ``exc`` (see :func:`describe_errors`).

    ``prefix`` goes before every location (``params.delta``); an error without a
    location is named ``root`` (with ``root=""``, the message alone). Past ``limit``
    errors, one last line says how many more there are.
    """
    errors = exc.errors() if isinstance(exc, ValidationError) else list(exc)
    pairs = describe_errors(errors, relabel)
    lines = []
    for where, msg in pairs[:limit]:
        if where and prefix:
            where = f"{prefix}.{where}"
        name = where or root
        lines.append(f"{name}: {msg}" if name else msg)
    if limit is not None and len(pairs) > limit:
        lines.append(f"(+{len(pairs) - limit} more)")
    return lines
