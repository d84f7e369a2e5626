"""Which key names hold a secret: ``DB_PASSWORD``, ``githubToken``, ``x-api-key``.

The rule (see docs/redaction.md, "Which keys count") is shared by the text
recognizers (``KEY=value`` in prose, env, JSON, YAML, URLs) and by the walk of
structured events (``{"db_password": "x"}``, where the value alone shows nothing).
This module needs only ``regex``, so the main process can use it without Presidio.
"""

from __future__ import annotations

import regex

_IGNORE_CASE = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE

#: A secret word inside a key (matched case-insensitively, see the module docstring).
_WORD = (
    r"(?:pass(?:word|wd|phrase)"
    r"|(?<![a-z])pass(?![a-z])"
    r"|pwd"
    r"|secret(?!ar)"
    r"|(?<!(?<![a-z])(?:max|min|num|total)[_.-]?)token(?!s|i[sz]|e[dn])"
    r"|auth(?!or(?!i[sz])|ent)"
    r"|credential"
    r"|(?:api|access|private|account|signing|encryption|master|subscription|consumer)[_.-]?key"
    r"|(?<![a-z])sig(?![a-z]))"
)
#: Last segments of keys that describe a secret rather than hold one.
_META = (
    r"(?:count|num|number|limit|len|length|size|max|min|total|type|kind|method|mode|scheme"
    r"|enabled|required|url|uri|endpoint|path|file|dir|name|ids|expiry|expires|expires_in|ttl"
    r"|age|days|hours|minutes|seconds|used|usage|budget|index|policy|provider|scope|scopes"
    r"|format|version|hint|prompt|stdin|header|field|status|strength|valid|attempts|retries"
    r"|history|complexity|rounds|iterations|algorithm|alg|date|time|timestamp|at)"
)
#: A meta word must start a segment: after ``_``, ``.``, ``-``, a digit, or camel case
#: (``tokenCount``), so ``secret_message`` or ``api_key_storage`` are not "…age".
_META_SEGMENT = r"(?:(?<![a-z])|(?<=(?-i:[a-z]))(?=(?-i:[A-Z])))" + _META
#: Cheap first: every secret word contains one of these literals.
HAS_WORD = r"(?=[\w.-]{0,80}?(?:pass|pwd|secret|token|auth|credential|key|sig))"
IS_WORD = r"(?=[\w.-]{0,80}?" + _WORD + r")"
NOT_META = r"(?![\w.-]{0,80}?" + _META_SEGMENT + r"(?![\w.-]))"
#: The key checks read forward: cheap literal test, then the secret word, then meta words.
KEY_CHECKS = HAS_WORD + IS_WORD + NOT_META

#: A structured key (``{"db_password": "…"}``) that names a secret, by the same rule.
_SECRET_KEY_NAME = regex.compile(KEY_CHECKS + r"[\w.-]{1,80}", _IGNORE_CASE)


def is_secret_key(name: str) -> bool:
    """Whether a JSON key names a secret, so that its value is one whatever it looks like.

    >>> [is_secret_key(k) for k in ("db_password", "GITHUB_TOKEN", "max_tokens", "auth_type")]
    [True, True, False, False]
    """
    return _SECRET_KEY_NAME.fullmatch(name) is not None
