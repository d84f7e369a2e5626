"""Presidio recognizers for credentials: by key name, by header, by vendor format, PEM blocks.

Every recognizer is a plain :class:`PatternRecognizer` (class constants
``PATTERNS`` and ``CONTEXT``, no ``analyze`` override), so the engine's
prefilter derives each pattern's gate from the regex itself
(:mod:`service.redaction.prefilter`) and the lean pattern loop runs it; the
differential tests compare the result with plain Presidio span for span.

Where a key or header names the secret (``DB_PASSWORD=…``, ``"api_key": "…"``,
``Authorization: Bearer …``) only the **value** is the finding: a pattern
consumes the separator, checks the key in a bounded look-behind and starts the
finding after it with ``regex``'s ``\\K``, so the redacted text still says which
credential was there (``DB_PASSWORD=<SECRET>``).

Cost is linear in the text: every quantifier inside a look-around is bounded,
value runs are possessive or bounded, and no pattern ends in a condition that
could make an unbounded run backtrack. ``load_tests/eval_secrets.py`` times
100 kB adversarial strings.

Which keys count (the rule, also in docs/redaction.md)
-----------------------------------------------------
A key is secret-bearing when it contains, in any case and with any prefix or
suffix, one of ``password``, ``passwd``, ``passphrase``, ``pwd``, ``secret``,
``token``, ``auth``, ``credential``, ``api_key``/``apikey``/``api-key`` (and
``access_key``, ``private_key``, ``account_key``, ``signing_key``,
``encryption_key``, ``master_key``, ``subscription_key``, ``consumer_key``), or
is exactly ``pass`` / ``sig`` as one segment, **unless**

* the word runs on into an ordinary longer word: ``tokens``, ``tokenizer``,
  ``tokenized``, ``author``, ``authority``, ``authentic…``, ``secretary``,
  ``bypass``, ``passenger``;
* ``token`` is counted (``max_``, ``min_``, ``num_`` or ``total_`` before it);
* the key's last segment says it describes a secret rather than holds one:
  ``count``, ``num``, ``limit``, ``len``/``length``, ``size``, ``max``, ``min``,
  ``total``, ``type``, ``kind``, ``method``, ``mode``, ``scheme``, ``enabled``,
  ``required``, ``url``, ``uri``, ``endpoint``, ``path``, ``file``, ``dir``,
  ``name``, ``ids``, ``expiry``/``expires``/``expires_in``/``ttl``, ``age``,
  ``used``/``usage``, ``budget``, ``index``, ``policy``, ``provider``,
  ``scope(s)``, ``format``, ``version``, ``hint``, ``prompt``, ``stdin``,
  ``header``, ``field``, ``status``, ``strength``, ``valid``, ``days``, ``date``,
  ``time``, ``at`` … (the full list is ``_META``), where a segment starts (after
  ``_``, ``.``, ``-``, a digit, or camel case), so ``secret_message`` still fires;
* the value is a boolean or null literal (``true``, ``false``, ``null``,
  ``none``, ``yes``, ``no``, ``on``, ``off``), a template reference
  (``${…}``, ``{{…}}``, ``%s``), all ``*`` or ``x``, or one of Guardian's own
  replacements (``<SECRET>``).

So ``max_tokens=512``, ``token_count=123``, ``tokens_used``, ``auth_type=basic``
and ``password_min_length: 12`` pass, while ``DB_PASSWORD``, ``MYSQL_PWD``,
``GITHUB_TOKEN``, ``x-api-key``, ``AccountKey`` and ``private_key_id`` fire.
"""

from __future__ import annotations

from collections.abc import Callable

import regex
from presidio_analyzer import Pattern, PatternRecognizer

from service.redaction.secret_keys import HAS_WORD as _HAS_WORD
from service.redaction.secret_keys import IS_WORD as _IS_WORD
from service.redaction.secret_keys import KEY_CHECKS as _KEY_CHECKS
from service.redaction.secret_keys import NOT_META as _NOT_META

_CASE_SENSITIVE = regex.DOTALL | regex.MULTILINE
_IGNORE_CASE = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE

# --- key names: service/redaction/secret_keys.py ----------------------------------------

#: A whole key (a run of word characters, ``.`` and ``-``, at most 80) holding a secret
#: word and not ending in a meta word, up to its closing quote (JSON, escaped JSON). Inside
#: a look-behind ``regex`` matches right to left: the separator, then the key's characters
#: (atomic, so a long word costs one pass), then the checks from the key's start, last
#: written first (so the cheap literal test runs first: 3-7x less per ``:`` in JSON).
_KEY = _NOT_META + _IS_WORD + _HAS_WORD + r"(?<![\w.-])(?>[\w.-]{1,80})(?:\\{0,2}[\"'])?"
#: HTTP auth schemes kept in front of the credential (``Authorization: Bearer <SECRET>``).
_SCHEME = (
    r"(?:bearer|basic|token|apikey|api-key|bot|jwt|oauth|sso|key|hmac"
    r"|digest|aws4-hmac-sha256|negotiate|ntlm|hoba|mutual)"
)
#: The separator, consumed first (``regex`` scans fast for ``=`` and ``:``; a pattern that
#: starts with a look-behind costs ~25x more per character), then the key before it.
_ASSIGN = r"(?:=>|:=|=|:)(?<=" + _KEY + r"[ \t]{0,3}(?:=>|:=|=|:))[ \t]{0,3}"
#: An auth scheme stays in the text; ``\K`` starts the finding after it (and after the key).
#: The value itself never starts with white space (Presidio's context step raises on a
#: finding that starts in trailing white space, which would fail the event closed).
_KEEP_SCHEME = r"(?:" + _SCHEME + r"[ \t]{1,3})?[ \t]{0,8}\K(?![ \t])(?!" + _SCHEME + r"[ \t])"
#: Values that are not secrets: booleans, nulls, template references, Guardian's own output.
_NOT_A_VALUE = (
    r"(?<!<[A-Z_]{1,40}:)"  # inside Guardian's own ``<SECRET:k1:…>`` pseudonym
    r"(?!(?:true|false|null|none|nil|yes|no|on|off|undefined)(?![^\s\"',;&)}\]])"
    r"|\$[{(]|\{\{|%[sd(]|\*+(?![^\s\"',;&])|x+(?![^\s\"',;&])"
    r"|<[A-Z][A-Z0-9_]{0,40}(?::[\w-]{1,40}:[0-9a-f]{8,64})?>)"
)
#: Prose after ``Password:`` that is not a value (``Password: see the vault``).
_NOT_PROSE = (
    r"(?!(?:see|the|this|that|these|not|your|our|my|use|ask|check|in|on|at|from|is|are|was"
    r"|will|be|it|a|an|to|of|for|with|here|below|above|same|empty|unset|required|optional"
    r"|provided|hidden|redacted|omitted)(?:[ \t\r\n]|$))"
)
# ``PWD=/home/me`` in an environment dump is the working directory, not a password.
_NOT_A_DIRECTORY = r"(?!(?<=(?<![\w.-])(?:old)?pwd[ \t]{0,3}=[ \t]{0,3})[/~])"


class DeclaredRecognizer(PatternRecognizer):
    """Declared by class constants, as Presidio's own recognizers are (secret or not)."""

    ENTITY: str
    FLAGS: int
    PATTERNS: list[Pattern]
    CONTEXT: list[str]

    def __init__(self) -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            patterns=list(self.PATTERNS),
            context=list(self.CONTEXT),
            global_regex_flags=self.FLAGS,
        )


class SecretAssignmentRecognizer(DeclaredRecognizer):
    """The value assigned to a secret-named key: shell, env, JSON, YAML, URL query, CLI flag.

    ``DB_PASSWORD=hunter2``, ``export GITHUB_TOKEN=…``, ``"db_password": "…"``,
    ``password: …``, ``?access_token=…&``, ``--password=…``, ``--api-key …``,
    ``X-Api-Key: …`` and ``Authorization: Bearer …`` (the scheme is kept). Quoted
    values are taken whole up to the closing quote (escapes included, 8,192
    characters at most); unquoted ones up to white space, a quote, ``&``, ``<`` or
    ``>``, without trailing punctuation.

    Examples
    --------
    >>> rec = SecretAssignmentRecognizer()
    >>> text = "export DB_PASSWORD=hunter2 max_tokens=512"
    >>> [text[r.start : r.end] for r in rec.analyze(text, ["SECRET"])]
    ['hunter2']
    """

    PATTERNS = [
        Pattern(
            "secret key, double-quoted value",
            _ASSIGN
            + r"(?<!\\)\""
            + _KEEP_SCHEME
            + _NOT_A_VALUE
            + r"(?:[^\"\\\r\n]|\\[^\r\n]){1,8192}",
            0.8,
        ),
        Pattern(
            "secret key, escaped-quote value",
            _ASSIGN
            + r"\\\""
            + _KEEP_SCHEME
            + _NOT_A_VALUE
            + r"(?:[^\"\\\r\n]|\\[^\"\r\n]){1,8192}",
            0.8,
        ),
        Pattern(
            "secret key, single-quoted value",
            _ASSIGN + r"'" + _KEEP_SCHEME + _NOT_A_VALUE + r"(?:[^'\\\r\n]|\\[^\r\n]){1,8192}",
            0.8,
        ),
        Pattern(
            "secret key, bare value",
            _ASSIGN
            + _KEEP_SCHEME
            + _NOT_A_VALUE
            + _NOT_PROSE
            + _NOT_A_DIRECTORY
            + r"[^\s\"'`<>&\\]{1,512}(?<![.,;:)\]}])",
            0.7,
        ),
        Pattern(
            "secret flag, value after a space",
            r"-(?<![\w-]-)-?"
            + _KEY_CHECKS
            + r"[\w.-]{1,80}+[ \t]{1,3}\K(?!-)"
            + _NOT_A_VALUE
            + r"(?:\"[^\"\r\n]{1,512}\"|'[^'\r\n]{1,512}'|[^\s\"'`<>&]{1,512}(?<![.,;:)\]}]))",
            0.6,
        ),
        Pattern(
            "secret named in prose",
            # "my password is Hunter2!": a value that looks like one (letters and digits/symbols).
            r"\b(?:password|passwd|passphrase|pwd|secret|api[ _-]?key|access[ _-]?token)"
            r"[ \t]{1,3}(?:is|was)[ \t]{1,3}:?[ \t]{0,3}\K"
            r"(?=[^\s]{0,63}[0-9!#$%&*+/=?@^_~-])(?=[^\s]{0,63}[a-z])"
            r"[^\s\"'`<>]{6,128}(?<![.,;:)\]}])",
            0.6,
        ),
        Pattern(
            "secret named by a name/value pair",
            # Kubernetes ``- name: DB_PASSWORD\n  value: …``, ECS ``{"name": …, "value": …}``.
            r"\bname[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?" + _KEY_CHECKS + r"[\w.-]{1,80}+[\"']?"
            r"[\s,]{1,40}[\"']?value[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?\K"
            + _NOT_A_VALUE
            + r"[^\s\"'`<>&\\]{1,512}",
            0.7,
        ),
        Pattern(
            "secret element",
            # XML config: ``<password>…</password>``, ``<db:secret>…</db:secret>`` (a closing
            # tag must follow: Guardian's own ``<SECRET>`` is not an element).
            r"<"
            + _KEY_CHECKS
            + r"[\w.:-]{1,80}+>[ \t]{0,8}\K(?![ \t<])"
            + _NOT_A_VALUE
            + r"[^<\r\n]{1,512}(?=</)",
            0.7,
        ),
        Pattern(
            "secret after a space, quoted",
            # SQL ``CREATE USER x WITH PASSWORD 'x'``, ``IDENTIFIED BY 'x'``; .netrc ``password x``.
            r"\b(?:password|identified[ \t]{1,3}by)[ \t]{1,3}(?:'\K[^'\r\n]{1,512}"
            r"|\"\K[^\"\r\n]{1,512}|(?<=\bmachine[ \t]\S{1,253}[ \t]{1,3}login[ \t]{1,3}\S{1,253}"
            r"[ \t]{1,3}password[ \t]{1,3})\K[^\s'\"]{1,512})",
            0.7,
        ),
    ]
    CONTEXT = ["password", "secret", "key", "token", "credential", "auth"]

    ENTITY = "SECRET"
    FLAGS = _IGNORE_CASE


class CredentialInTransitRecognizer(DeclaredRecognizer):
    """Credentials in HTTP headers and URLs that the key-name rule cannot see.

    Digest-style ``Authorization`` values (``Digest``, ``AWS4-HMAC-SHA256``,
    ``Negotiate``, ``NTLM``) and ``Cookie`` / ``Set-Cookie`` headers to the end of
    the line; the password of ``scheme://user:password@host`` and of
    ``curl -u user:password``; AWS and Azure key material next to its id
    (``AKIA…`` then a 40-character secret key within 100 characters).
    """

    PATTERNS = [
        Pattern(
            "authorization header, structured scheme",
            r"authorization\\{0,2}[\"']?[ \t]{0,3}[:=][ \t]{0,3}\\{0,2}[\"']?"
            r"(?:digest|aws4-hmac-sha256|negotiate|ntlm|hoba|mutual)[ \t]{1,3}\K\S[^\r\n]{0,4095}",
            0.8,
        ),
        Pattern(
            "cookie header",
            r"\b(?:set-)?cookie\\{0,2}[\"']?[ \t]{0,3}:[ \t]{0,3}\\{0,2}[\"']?\K"
            r"[^\s\"'\\][^\r\n\"'\\]{0,4095}",
            0.7,
        ),
        Pattern(
            "password in a URL",
            r"://(?<=\b[a-z][a-z0-9+.-]{1,20}://)[^\s:@/?#\"'<>]{0,128}+:\K"
            # '#' and '?' are allowed: careless connection strings carry raw passwords
            # with them; '/' is not, so ``host:port/path/@user`` stays a URL.
            r"[^\s@/\"'<>]{1,256}+(?=@)",
            0.8,
        ),
        Pattern(
            "curl user:password",
            r"-(?<![\w-]-)(?:u|-user|-proxy-user)[ \t]{1,3}[\"']?[^\s:\"']{0,128}+:\K"
            r"[^\s\"']{1,256}",
            0.7,
        ),
    ]
    CONTEXT = ["authorization", "cookie", "password", "curl", "url"]

    ENTITY = "SECRET"
    FLAGS = _IGNORE_CASE


class AwsSecretKeyRecognizer(DeclaredRecognizer):
    """A 40-character AWS secret access key written near its ``AKIA``/``ASIA`` key id.

    The key id (matched case-sensitively) must come first, within 100 characters
    on the same line (``AKIA…,wJalr…`` in a credentials CSV, or prose). The
    candidate needs upper and lower case letters, so a 40-digit hex hash (a
    git SHA-1) next to a key id is not taken for one.
    """

    PATTERNS = [
        Pattern(
            "aws secret access key near its id",
            r"\b(?:AKIA|ASIA)[A-Z2-7]{16}\b[^\r\n]{0,100}?(?<![A-Za-z0-9/+])\K"
            r"(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])"
            r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
            0.8,
        ),
    ]
    CONTEXT = ["aws", "secret", "key"]

    ENTITY = "SECRET"
    FLAGS = _CASE_SENSITIVE


class ApiKeyRecognizer(DeclaredRecognizer):
    """Vendor API keys recognisable by their documented prefix, wherever they appear.

    OpenAI (``sk-…``, ``sk-proj-…``) and Anthropic (``sk-ant-…``), Stripe secret
    and restricted keys (``sk_live_``, ``rk_live_``, ``sk_test_``) and webhook
    secrets, Google API keys (``AIza…``), OAuth client secrets (``GOCSPX-``) and
    access tokens (``ya29.``), GitLab (``glpat-`` …), Hugging Face (``hf_``), npm
    (``npm_``), PyPI (``pypi-``), SendGrid (``SG.``), DigitalOcean (``dop_v1_``),
    Databricks (``dapi``) and Shopify (``shpat_``…). Case-sensitive: the prefixes are.
    """

    PATTERNS = [
        Pattern(
            "openai or anthropic key",
            # A digit in the first 65 characters keeps "sk-learn-style-names" out.
            r"\bsk-(?=[A-Za-z_-]{0,64}+[0-9])[A-Za-z0-9_-]{20,}+",
            0.9,
        ),
        Pattern("stripe key", r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}+", 0.95),
        Pattern("stripe webhook secret", r"\bwhsec_[A-Za-z0-9+/]{24,}+", 0.95),
        Pattern("google api key", r"\bAIza[0-9A-Za-z_-]{35}", 0.95),
        Pattern("google oauth client secret", r"\bGOCSPX-[0-9A-Za-z_-]{28}", 0.95),
        Pattern("google oauth access token", r"\bya29\.[0-9A-Za-z_-]{20,}+", 0.9),
        Pattern(
            "gitlab token",
            r"\bgl(?:pat|dt|rt|ptt|ft|soat|oas|imt|agent|cbt)-[0-9A-Za-z_-]{20,}+",
            0.95,
        ),
        Pattern("hugging face token", r"\bhf_[A-Za-z0-9]{30,}+", 0.9),
        Pattern("npm token", r"\bnpm_[A-Za-z0-9]{36,}+", 0.95),
        Pattern("pypi token", r"\bpypi-AgE[A-Za-z0-9_-]{50,}+", 0.95),
        Pattern("sendgrid key", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", 0.95),
        Pattern("digitalocean token", r"\bdo[opr]_v1_[a-f0-9]{64}", 0.95),
        Pattern("databricks token", r"\bdapi[a-f0-9]{32}(?:-\d)?", 0.9),
        Pattern("shopify token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}", 0.95),
    ]
    CONTEXT = ["key", "api", "token", "secret"]

    ENTITY = "API_KEY"
    FLAGS = _CASE_SENSITIVE


class AwsAccessKeyRecognizer(DeclaredRecognizer):
    """AWS access key ids: a four-letter type prefix (``AKIA``, ``ASIA``, ...) and 16 more."""

    PATTERNS = [
        Pattern(
            "aws access key id",
            r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}\b",
            0.9,
        )
    ]
    CONTEXT = ["aws", "access", "key", "credential", "iam"]

    ENTITY = "AWS_ACCESS_KEY"
    FLAGS = _CASE_SENSITIVE


class GitHubTokenRecognizer(DeclaredRecognizer):
    """GitHub classic (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``) and fine-grained tokens."""

    PATTERNS = [
        Pattern("github token", r"\bgh[pousr]_[A-Za-z0-9]{36,251}\b", 0.95),
        Pattern("github fine-grained token", r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b", 0.95),
    ]
    CONTEXT = ["github", "token", "pat"]

    ENTITY = "GITHUB_TOKEN"
    FLAGS = _CASE_SENSITIVE


class SlackTokenRecognizer(DeclaredRecognizer):
    """Slack bot, user, app, refresh and config tokens, and incoming-webhook URLs."""

    PATTERNS = [
        Pattern("slack token", r"\bxox[abeprs]-[A-Za-z0-9-]{10,250}", 0.95),
        Pattern("slack app token", r"\bxapp-\d-[A-Za-z0-9-]{10,250}", 0.95),
        Pattern(
            "slack webhook",
            r"\bhooks\.slack\.com/(?:services|workflows)/\K[A-Za-z0-9/_-]{20,200}",
            0.95,
        ),
    ]
    CONTEXT = ["slack", "token", "bot", "webhook"]

    ENTITY = "SLACK_TOKEN"
    FLAGS = _CASE_SENSITIVE


class JwtRecognizer(DeclaredRecognizer):
    """JSON Web Tokens: base64url header and payload that both start with ``{"`` (``eyJ``)."""

    PATTERNS = [
        Pattern(
            "jwt",
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
            0.9,
        )
    ]
    CONTEXT = ["jwt", "bearer", "token", "authorization"]

    ENTITY = "JWT"
    FLAGS = _CASE_SENSITIVE


#: Armour lines, any case, 3–5 dashes (``---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----`` has 4).
_ARMOUR = r"-{{3,5}} ?{}[ A-Z0-9]{{0,40}}PRIVATE KEY(?: BLOCK)? ?-{{3,5}}"
#: Body separators: white space, and ``\n`` / ``\r`` written as escapes (once or twice).
_PEM_SEP = r"(?:\s|\\{1,2}[nrt])++"
#: A header line (``Proc-Type: 4,ENCRYPTED``, ``DEK-Info: AES-128-CBC,…``) or a base64 run.
_PEM_CHUNK = (
    r"(?:[A-Za-z]{1,20}-[A-Za-z]{1,20}:[ \t]*[A-Za-z0-9,-]{1,128}+|(?:[A-Za-z0-9+/=]|\\/)++)"
)


class PrivateKeyRecognizer(DeclaredRecognizer):
    """PEM private-key blocks in every form seen in logs.

    Real newlines, literal ``\\n`` escapes (JSON, GCP service-account files),
    one line with spaces, lower-case armour, RSA/EC/DSA/OPENSSH/ENCRYPTED/PGP,
    and truncated keys without an END line: the match runs over the body (base64
    runs, header lines, separators) to the END line, or to where the body stops
    (the end of the string for a key cut off mid-body).
    """

    PATTERNS = [
        Pattern(
            "pem private key",
            _ARMOUR.format("BEGIN")
            + r"(?>(?:"
            + _PEM_SEP
            + r"|"
            + _PEM_CHUNK
            + r")*)(?:"
            + _ARMOUR.format("END")
            + r")?",
            1.0,
        )
    ]
    CONTEXT = ["key", "private", "pem", "ssh"]

    ENTITY = "PRIVATE_KEY"
    FLAGS = _IGNORE_CASE


#: Secret recognizers in registry order (all pattern recognizers, no NLP needed).
SECRET_RECOGNIZERS: tuple[Callable[[], PatternRecognizer], ...] = (
    AwsAccessKeyRecognizer,
    AwsSecretKeyRecognizer,
    GitHubTokenRecognizer,
    SlackTokenRecognizer,
    ApiKeyRecognizer,
    JwtRecognizer,
    PrivateKeyRecognizer,
    SecretAssignmentRecognizer,
    CredentialInTransitRecognizer,
)
