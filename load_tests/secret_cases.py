"""Seeded credential leak cases, one family per form, and look-alikes that are not secrets.

Used by ``tests/unit/test_redaction_secrets.py`` (development seed) and by
``load_tests/eval_secrets.py`` (development seed, and a held-out seed that is
only run to report recall, never to tune the recognizers on).

A :class:`SecretCase` holds the text, the strings that must be gone after
redaction (the secret, or every body line of a PEM block) and the key that
must still be there, so a redacted log still says which credential it held.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

#: The seed the tests and the recognizers were developed on.
DEV_SEED = 14
#: Run once at the end, for the report only (``python -m load_tests.eval_secrets --held-out``).
HELD_OUT_SEED = 20261201


@dataclass(frozen=True)
class SecretCase:
    """One leak: ``text`` carries ``secrets``; after redaction ``key`` must remain."""

    form: str
    text: str
    secrets: tuple[str, ...]
    key: str
    #: Which shape of the family (for test ids and per-shape recall).
    variant: str = ""


_ALNUM = string.ascii_letters + string.digits
_B64 = _ALNUM + "+/"
_URLSAFE = _ALNUM + "-_"


def _run(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def password_value(rng: random.Random, spaces: bool = False) -> str:
    """A password as people write them: starts and ends alphanumeric, symbols inside."""
    inner = _ALNUM + "!@#$%^*_+=~/:.-" + (" " if spaces else "")
    while True:
        body = rng.choice(_ALNUM) + _run(rng, inner, 4, 30) + rng.choice(string.digits)
        if any(c.isdigit() for c in body) and not body.isdigit():
            return body


def token_value(rng: random.Random) -> str:
    return _run(rng, _URLSAFE, 20, 48) + rng.choice(string.digits)


# --- key names ------------------------------------------------------------------------------

_WORDS = (
    "password", "passwd", "pwd", "passphrase", "secret", "token", "api_key", "apikey",
    "api-key", "auth", "credential", "credentials", "private_key", "access_key",
    "client_secret", "secret_key", "auth_token", "access_token", "refresh_token",
    "account_key",
)  # fmt: skip
_PREFIXES = ("db", "mysql", "aws", "github", "app", "prod", "redis", "smtp", "stripe", "openai",
             "admin", "svc", "ci", "gitlab", "vault", "kafka", "ldap", "oauth")  # fmt: skip
_SUFFIXES = ("", "", "", "prod", "v2", "value", "hash", "old", "1", "b64")


def key_name(rng: random.Random, style: str | None = None) -> str:
    """A secret-bearing key in a random naming style (snake, SCREAMING, camel, kebab, dotted)."""
    word = rng.choice(_WORDS)
    parts = [p for p in (rng.choice(_PREFIXES) if rng.random() < 0.7 else "",
                         word, rng.choice(_SUFFIXES)) if p]  # fmt: skip
    style = style or rng.choice(("snake", "upper", "camel", "kebab", "dotted"))
    if style == "upper":
        return "_".join(parts).upper()
    if style == "camel":
        words = [w for p in parts for w in p.replace("-", "_").split("_")]
        return words[0].lower() + "".join(w.capitalize() for w in words[1:])
    if style == "kebab":
        return "-".join(parts).replace("_", "-")
    if style == "dotted":
        return ".".join(parts)
    return "_".join(parts)


# --- families -------------------------------------------------------------------------------


def _shell(rng: random.Random) -> SecretCase:
    key = key_name(rng, rng.choice(("upper", "upper", "snake")))
    value = password_value(rng)
    template = rng.choice(
        (
            "export {k}={v}",
            "$ export {k}={v} && ./deploy.sh",
            "{k}={v} python manage.py migrate",
            "export {k}='{v}'",
            'export {k}="{v}"',
            "set {k}={v}",
            '$env:{k} = "{v}"',
            "docker run -e {k}={v} app:latest",
            "RUN echo {k}={v} >> /etc/environment",
        )
    )
    return SecretCase("shell", template.format(k=key, v=value), (value,), key)


def _env(rng: random.Random) -> SecretCase:
    key = key_name(rng, "upper")
    value = password_value(rng)
    others = ["HOME=/home/app", "PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8", "TZ=UTC",
              "HOSTNAME=worker-7", "PORT=8080", "LOG_LEVEL=info"]  # fmt: skip
    lines = rng.sample(others, 3)
    lines.insert(rng.randint(0, 3), f"{key}={value}")
    sep = rng.choice(("\n", "\\n", " "))
    return SecretCase("env", "env dump:" + sep + sep.join(lines), (value,), key)


def _json(rng: random.Random) -> SecretCase:
    key = key_name(rng, rng.choice(("snake", "camel", "kebab")))
    value = password_value(rng, spaces=rng.random() < 0.3)
    template = rng.choice(
        (
            '{{"{k}": "{v}", "user": "app"}}',
            '{{"host": "db.internal", "{k}":"{v}"}}',
            '{{\n  "{k}": "{v}",\n  "port": 5432\n}}',
            "config = {{'{k}': '{v}', 'debug': False}}",
            'log line: {{\\"{k}\\": \\"{v}\\", \\"ok\\": true}}',
            '[{{"name": "x", "{k}": "{v}"}}]',
            '"environment": [{{"name": "{k}", "value": "{v}"}}]',
        )
    )
    return SecretCase("json", template.format(k=key, v=value), (value,), key)


def _yaml(rng: random.Random) -> SecretCase:
    key = key_name(rng, rng.choice(("snake", "snake", "camel", "kebab")))
    value = password_value(rng)
    template = rng.choice(
        (
            "{k}: {v}",
            "database:\n  host: db.internal\n  {k}: {v}\n  port: 5432",
            '  {k}: "{v}"',
            "- {k}: '{v}'",
            "spring:\n  datasource:\n    {k}: {v}\n",
            "{k}:   {v}   # rotated monthly",
            "env:\n- name: {k}\n  value: {v}\n- name: LOG_LEVEL\n  value: info",
        )
    )
    return SecretCase("yaml", template.format(k=key, v=value), (value,), key)


def _url_query(rng: random.Random) -> SecretCase:
    key = key_name(rng, "snake").lower()
    value = token_value(rng)
    template = rng.choice(
        (
            "https://api.example.com/v1/items?{k}={v}&page=2",
            "GET /oauth/callback?code=xyz&{k}={v} HTTP/1.1",
            "redirect to https://app.example.org/#{k}={v}&expires_in=3600",
            "wss://stream.example.net/ws?{k}={v}",
            "curl 'https://example.com/export?format=csv&{k}={v}'",
        )
    )
    return SecretCase("url_query", template.format(k=key, v=value), (value,), key)


def _cli_flag(rng: random.Random) -> SecretCase:
    key = key_name(rng, "kebab").lower()
    value = password_value(rng)
    template = rng.choice(
        (
            "mytool --{k}={v} --verbose",
            "mytool --{k} {v} --verbose",
            'deploy --{k} "{v}" --region eu',
            "psql --host db --{k}={v}",
            "run.sh -{k} {v}",
            "cli login --user bob --{k} '{v}'",
        )
    )
    return SecretCase("cli_flag", template.format(k=key, v=value), (value,), key)


def _header(rng: random.Random) -> SecretCase:
    token = token_value(rng)
    basic = base64.b64encode(f"user{rng.randint(1, 99)}:{password_value(rng)}".encode()).decode()
    choice = rng.randrange(10)
    if choice == 0:
        return SecretCase("http_header", f"Authorization: Bearer {token}", (token,), "Bearer")
    if choice == 1:
        return SecretCase("http_header", f"Authorization: Basic {basic}", (basic,), "Basic")
    if choice == 2:
        text = f"Proxy-Authorization: Basic {basic}\r\nHost: x"
        return SecretCase("http_header", text, (basic,), "Proxy-Authorization")
    if choice == 3:
        return SecretCase("http_header", f"Authorization: Token {token}", (token,), "Token")
    if choice == 4:
        response = "".join(rng.choice("0123456789abcdef") for _ in range(32))
        text = (
            f'Authorization: Digest username="bob", realm="api", nonce="dcd98b71", '
            f'uri="/x", response="{response}"'
        )
        return SecretCase("http_header", text, (response,), "Digest")
    if choice == 5:
        return SecretCase("http_header", f"X-Api-Key: {token}", (token,), "X-Api-Key")
    if choice == 6:
        return SecretCase("http_header", f"x-auth-token: {token}", (token,), "x-auth-token")
    if choice == 7:
        text = f'curl -H "Authorization: Bearer {token}" https://api.example.com/me'
        return SecretCase("http_header", text, (token,), "Authorization")
    if choice == 8:
        text = f'headers = {{"Authorization": "ApiKey {token}", "Accept": "json"}}'
        return SecretCase("http_header", text, (token,), "Authorization")
    text = f"Cookie: sessionid={token}; theme=dark"
    return SecretCase("http_header", text, (token,), "Cookie")


def _vendor(rng: random.Random) -> SecretCase:
    makers: list[tuple[str, Callable[[], str]]] = [
        ("openai", lambda: "sk-" + _run(rng, _ALNUM, 40, 48) + rng.choice(string.digits)),
        ("openai-proj", lambda: "sk-proj-" + _run(rng, _URLSAFE, 60, 120) + "7"),
        ("anthropic", lambda: "sk-ant-api03-" + _run(rng, _URLSAFE, 80, 95) + "AA"),
        (
            "stripe",
            lambda: rng.choice(("sk_live_", "rk_live_", "sk_test_")) + _run(rng, _ALNUM, 24, 99),
        ),
        ("google", lambda: "AIza" + _run(rng, _URLSAFE, 35, 35)),
        ("gitlab", lambda: "glpat-" + _run(rng, _URLSAFE, 20, 20)),
        (
            "slack",
            lambda: (
                f"xox{rng.choice('abprs')}-{rng.randint(10**10, 10**11)}-"
                + _run(rng, _ALNUM, 24, 24)
            ),
        ),
        (
            "github",
            lambda: (
                rng.choice(("ghp_", "gho_", "ghu_", "ghs_", "ghr_")) + _run(rng, _ALNUM, 36, 36)
            ),
        ),
        ("github-pat", lambda: "github_pat_" + _run(rng, _ALNUM + "_", 60, 82)),
        ("huggingface", lambda: "hf_" + _run(rng, _ALNUM, 34, 34)),
        (
            "aws",
            lambda: (
                rng.choice(("AKIA", "ASIA")) + _run(rng, string.ascii_uppercase + "234567", 16, 16)
            ),
        ),
        ("npm", lambda: "npm_" + _run(rng, _ALNUM, 36, 36)),
    ]
    vendor, make = rng.choice(makers)
    value = make()
    template = rng.choice(
        (
            "Why does the client reject {v}?",
            "I pasted {v} into the config, is that right?",
            "use {v} for the staging calls",
            "client = Client({v!r})",
            "[{v}]",
        )
    )
    return SecretCase("vendor", template.format(v=value), (value,), "", vendor)


def _markup(rng: random.Random) -> SecretCase:
    """XML elements, SQL and .netrc: the secret is not after ``=`` or ``:``."""
    value = password_value(rng)
    choice = rng.randrange(4)
    if choice == 0:
        key = key_name(rng, rng.choice(("snake", "camel", "dotted")))
        text = f"<config><{key}>{value}</{key}><user>app</user></config>"
    elif choice == 1:
        key = "PASSWORD"
        text = f"ALTER USER app WITH PASSWORD '{value}';"
    elif choice == 2:
        key = "IDENTIFIED BY"
        text = f"CREATE USER 'app'@'%' IDENTIFIED BY '{value}';"
    else:
        key = "login deploy"
        text = f"machine git.example.com login deploy password {value}"
    return SecretCase("markup", text, (value,), key)


def _pem_body(rng: random.Random, lines: int) -> list[str]:
    return [_run(rng, _B64, 64, 64) for _ in range(lines)]


def _pem(rng: random.Random) -> SecretCase:
    kind = rng.choice(("", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "))
    body = _pem_body(rng, rng.randint(2, 5))
    begin, end = f"-----BEGIN {kind}PRIVATE KEY-----", f"-----END {kind}PRIVATE KEY-----"
    form = rng.choice(("newlines", "escaped", "one-line", "lowercase", "truncated", "json"))
    if form == "lowercase":
        begin, end = begin.lower(), end.lower()
    if form == "escaped":
        block = "\\n".join([begin, *body, end]) + "\\n"
    elif form == "one-line":
        block = " ".join([begin, *body, end])
    elif form == "truncated":
        body = [*body[:-1], body[-1][: rng.randint(8, 60)]]
        block = "\n".join([begin, *body])
    elif form == "json":
        block = '{"type": "service_account", "private_key": "' + "\\n".join([begin, *body, end])
        block += '\\n", "client_id": "1234"}'
    else:
        block = "\n".join([begin, *body, end])
    text = rng.choice(("Here is my key:\n{b}\nwhat format is it?", "{b}", "key = {b}"))
    key = "private_key" if form == "json" else ""
    return SecretCase("pem", text.format(b=block), tuple(body), key, form)


def _url_userinfo(rng: random.Random) -> SecretCase:
    value = _run(rng, _ALNUM + "-_.~", 8, 24) + rng.choice(string.digits)
    template = rng.choice(
        (
            "postgres://app:{v}@db.internal:5432/orders",
            "redis://:{v}@cache:6379/0",
            "https://deploy:{v}@git.example.com/repo.git",
            "amqp://guest:{v}@mq.internal/",
            "DATABASE_URL=mysql://root:{v}@127.0.0.1/app",
            "jdbc:postgresql://user:{v}@host/db",
        )
    )
    return SecretCase("url_userinfo", template.format(v=value), (value,), "://")


def _aws_pair(rng: random.Random) -> SecretCase:
    key_id = "AKIA" + _run(rng, string.ascii_uppercase + "234567", 16, 16)
    while True:
        secret = _run(rng, _B64, 40, 40)
        if any(c.isupper() for c in secret) and any(c.islower() for c in secret):
            break
    template = rng.choice(
        (
            "Access key ID,Secret access key\n{i},{s}",
            "my keys: {i} / {s}",
            "[default]\naws_access_key_id = {i}\naws_secret_access_key = {s}",
            "AWS_ACCESS_KEY_ID={i} AWS_SECRET_ACCESS_KEY={s} aws s3 ls",
        )
    )
    return SecretCase("aws_pair", template.format(i=key_id, s=secret), (key_id, secret), "")


def _azure(rng: random.Random) -> SecretCase:
    value = base64.b64encode(rng.randbytes(64)).decode()
    template = rng.choice(
        (
            "DefaultEndpointsProtocol=https;AccountName=acct{n};AccountKey={v};"
            "EndpointSuffix=core.windows.net",
            "Endpoint=sb://ns{n}.servicebus.windows.net/;SharedAccessKeyName=Root;"
            "SharedAccessKey={v}",
            "https://acct{n}.blob.core.windows.net/c/b.txt?sv=2022-11-02&ss=b&sig={q}&se=2027",
        )
    )
    quoted = value.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    text = template.format(n=rng.randint(1, 99), v=value, q=quoted)
    key = (
        "sig"
        if "sig=" in text
        else "SharedAccessKey"
        if "SharedAccessKey=" in text
        else "AccountKey"
    )
    return SecretCase("azure", text, (quoted if key == "sig" else value,), key)


def _gcp(rng: random.Random) -> SecretCase:
    key_id = "".join(rng.choice("0123456789abcdef") for _ in range(40))
    body = _pem_body(rng, 3)
    pem = "\\n".join(["-----BEGIN PRIVATE KEY-----", *body, "-----END PRIVATE KEY-----"])
    text = (
        '{\n  "type": "service_account",\n  "project_id": "demo-123",\n'
        f'  "private_key_id": "{key_id}",\n  "private_key": "{pem}\\n",\n'
        '  "client_email": "svc@demo-123.iam.gserviceaccount.com"\n}'
    )
    return SecretCase("gcp_json", text, (key_id, *body), "private_key_id")


FAMILIES: dict[str, Callable[[random.Random], SecretCase]] = {
    "shell": _shell,
    "env": _env,
    "json": _json,
    "yaml": _yaml,
    "url_query": _url_query,
    "cli_flag": _cli_flag,
    "http_header": _header,
    "markup": _markup,
    "vendor": _vendor,
    "pem": _pem,
    "url_userinfo": _url_userinfo,
    "aws_pair": _aws_pair,
    "azure": _azure,
    "gcp_json": _gcp,
}


def secret_cases(seed: int = DEV_SEED, per_family: int = 10) -> list[SecretCase]:
    """``per_family`` cases of every family, reproducible from ``seed``."""
    rng = random.Random(seed)
    return [make(rng) for make in FAMILIES.values() for _ in range(per_family)]


#: Texts that look like credentials, or talk about them, and are not: nothing may be redacted.
NOT_SECRETS: tuple[str, ...] = (
    "The token is not here, just the word password without value.",
    "Reset your password from the settings page; the token expires after an hour.",
    "Password: see the vault entry for details",
    "max_tokens=512 temperature=0.2",
    '{"max_tokens": 1024, "num_tokens": 87, "token_count": 123, "tokens_used": 4096}',
    "usage: prompt_tokens=31 completion_tokens=212 total_tokens=243",
    "token_limit: 8192\ntoken_budget: 2000\ntokenizer: bert-base-uncased",
    '"token_type": "Bearer", "expires_in": 3600',
    "auth_type=basic auth_method: oauth2 auth_required=true",
    '{"authenticated": true, "password_required": false, "has_token": null}',
    "password_min_length: 12\npassword_max_age_days: 90\npassword_policy: strict",
    "author: Jane Austen\nauthority=registry secretary=Bob",
    "passenger_count=3 bypass_cache=1 compass=north",
    "event_id=7b0c6a9e-5f0e-4f43-9a49-2d2b9c1f6f10 trace=4bf92f3577b34da6a3ce929d0e0e4736",
    "commit 3f2a9c0d1e2b4a5c6d7e8f90123456789abcdef0 sha256=9f86d081884c7d659a2feaa0c55ad015"
    "a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "password: ${DB_PASSWORD}\ntoken: {{ vault_token }}\nsecret=%s",
    "password=**** api_key=xxxxxxxx",
    'redacted: {"password": "<SECRET>", "api_key": "<SECRET:k1:3f2a9c0d1e2b4a5c>"}',
    "PWD=/home/app OLDPWD=/tmp",
    "Set the Authorization header to a bearer token and the X-Api-Key header to your key.",
    "we use sk-learn-style estimators and the ask-me-anything format",
    "secret_name=prod-db-creds password_file=/run/secrets/db token_url=https://auth.example.com/t",
    "The keyboard and the monkey were both tokenized; tokenization is slow.",
    "See https://example.com:8080/path?page=2&sort=asc for details",
    "Meeting at 10:30: authors submit passwords-policy drafts by Friday.",
    '{"name": "max_tokens", "value": 512} <tokenizer>bert</tokenizer>',
    "Enter your password and the token, then press OK.",
)
