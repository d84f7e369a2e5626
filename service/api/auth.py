"""Bearer-token authentication and role checks for the ``/v1`` routes.

Tokens are configured hashed (``{"name", "role", "token_sha256"}``) through
``GUARDIAN_AUTH__TOKENS`` or a YAML/JSON file (``auth.tokens_file``). A
request's token is hashed and compared with every configured digest with
:func:`hmac.compare_digest` (no early exit, so timing says nothing about which
or how much matched). Roles are ordered ``viewer < operator < admin``.

With no token configured every ``/v1`` route answers 401: the control plane is
closed by default, never open.

Failed attempts are counted in ``guardian_auth_failures_total{reason}`` and
limited per key: the client address *and* the hash of the presented token each
get ``auth.max_failures_per_minute`` failures per sliding minute; past that, a
request that fails again on a locked key gets 429 with ``Retry-After`` instead
of 401. A valid token is checked first and always accepted: behind an ingress
every caller shares one address, and others' failures must not lock an admin
out. The client address is the TCP peer, or, when the peer is one of
``http.trusted_proxies``, the right-most ``X-Forwarded-For`` entry that is not
itself a trusted proxy. Tokens are never logged, echoed or audited; only the
configured *name* identifies the caller.

Print the digest of a new token with ``python -m service.api.auth hash <token>``
(or pipe the token on stdin to keep it out of the shell history).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr, TypeAdapter, ValidationError

from service.api.errors import ApiError
from service.metrics import GuardianMetrics
from service.settings import AuthSettings, TokenSpec, resolve_config_path
from service.validation import describe_errors

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

Role = Literal["viewer", "operator", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2}

_WINDOW_S = 60.0
_MAX_TRACKED_CLIENTS = 10_000
_CHALLENGE = {"WWW-Authenticate": "Bearer"}

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="A token configured in auth.tokens (stored as its SHA-256).",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the configured token name and role (never the token)."""

    name: str
    role: Role


def token_digest(token: str) -> str:
    """Hex SHA-256 of a token, the form in which tokens are configured."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _presented_hash(token: str) -> str:
    """Limiter key of a presented token (its hash: the token itself is never kept)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def load_tokens_file(path: Path) -> list[TokenSpec]:
    """Read a YAML or JSON list of ``{name, role, token_sha256}``; raises ``ValueError``."""
    resolved = resolve_config_path(path)
    try:
        data = yaml.safe_load(resolved.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"auth.tokens_file {path}: {type(exc).__name__}") from None
    try:
        return TypeAdapter(list[TokenSpec]).validate_python(data or [])
    except ValidationError as exc:
        where = ", ".join(loc for loc, _ in describe_errors(exc.errors()))
        raise ValueError(f"auth.tokens_file {path}: invalid entries at {where}") from None


class FailureLimiter:
    """Sliding one-minute window of attempts per key (bounded memory).

    Keys are client addresses and presented-token hashes (failed authentications)
    or token names (dry runs).

    Examples
    --------
    >>> limiter = FailureLimiter(max_per_minute=2)
    >>> limiter.record("10.0.0.1", now=0.0); limiter.record("10.0.0.1", now=1.0)
    >>> limiter.retry_after("10.0.0.1", now=2.0)
    58
    >>> limiter.retry_after("10.0.0.1", now=61.0) is None
    True
    """

    def __init__(self, max_per_minute: int) -> None:
        self.max_per_minute = max_per_minute
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _window(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - _WINDOW_S:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def retry_after(self, client: str, now: float | None = None) -> int | None:
        """Seconds until ``client`` may try again, or ``None`` if it is not limited."""
        at = time.monotonic() if now is None else now
        times = self._window(client, at)
        if times is None or len(times) < self.max_per_minute:
            return None
        return max(1, int(times[0] + _WINDOW_S - at + 0.999))

    def record(self, client: str, now: float | None = None) -> None:
        at = time.monotonic() if now is None else now
        times = self._window(client, at)
        if times is None:
            times = self._failures[client] = deque(maxlen=self.max_per_minute)
            while len(self._failures) > _MAX_TRACKED_CLIENTS:
                self._failures.popitem(last=False)
        times.append(at)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The caller's address: the peer, unless the peer is a trusted proxy.

    From a trusted proxy, ``X-Forwarded-For`` is read right to left (each proxy
    appends the address it saw) and the first address that is not a trusted
    proxy is the client. A malformed entry stops the walk at the last trusted
    hop: a client cannot pick its address by sending the header itself.

    Examples
    --------
    >>> nets = [ipaddress.ip_network("10.0.0.0/8")]
    >>> client_address("10.0.0.5", "203.0.113.9, 10.0.0.7", nets)
    '203.0.113.9'
    >>> client_address("198.51.100.1", "203.0.113.9", nets)  # not a proxy: header ignored
    '198.51.100.1'
    """
    current = peer or "unknown"
    address = _address(current)
    if address is None or not any(address in net for net in trusted) or not forwarded_for:
        return current
    for hop in reversed(forwarded_for.split(",")):
        hop_address = _address(hop)
        if hop_address is None:
            return current
        current = str(hop_address)
        if not any(hop_address in net for net in trusted):
            return current
    return current


class Authenticator:
    """Checks bearer tokens against the configured digests and enforces roles.

    Parameters
    ----------
    tokens
        Configured tokens (hashed).
    max_failures_per_minute
        Failed attempts one client address, and one presented token, may make
        per minute before further failures answer 429.
    metrics
        Where ``guardian_auth_failures_total{reason}`` is counted.
    trusted_proxies
        Networks whose ``X-Forwarded-For`` is believed (see :func:`client_address`).
    """

    def __init__(
        self,
        tokens: Sequence[TokenSpec],
        max_failures_per_minute: int = 30,
        metrics: GuardianMetrics | None = None,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self._tokens = [(bytes.fromhex(t.token_sha256), Principal(t.name, t.role)) for t in tokens]
        self.limiter = FailureLimiter(max_failures_per_minute)
        self._metrics = metrics
        self.trusted_proxies = list(trusted_proxies)

    @classmethod
    def from_settings(
        cls,
        auth: AuthSettings,
        metrics: GuardianMetrics | None = None,
        trusted_proxies: Sequence[Network] = (),
    ) -> Authenticator:
        tokens = list(auth.tokens)
        if auth.tokens_file is not None:
            tokens += load_tokens_file(auth.tokens_file)
        return cls(tokens, auth.max_failures_per_minute, metrics, trusted_proxies)

    def client(self, request: Request) -> str:
        """The caller's address (see :func:`client_address`)."""
        peer = request.client.host if request.client is not None else None
        return client_address(peer, request.headers.get("x-forwarded-for"), self.trusted_proxies)

    @property
    def configured(self) -> bool:
        return bool(self._tokens)

    def identify(self, token: str) -> Principal | None:
        """The principal whose digest matches ``token`` (constant time over all tokens)."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found: Principal | None = None
        for expected, principal in self._tokens:
            if hmac.compare_digest(digest, expected) and found is None:
                found = principal
        return found

    def _fail(self, reason: str, keys: Sequence[str], message: str) -> ApiError:
        """401, or 429 when one of ``keys`` already used its failures; counts this one."""
        now = time.monotonic()
        waits = [w for w in (self.limiter.retry_after(k, now) for k in keys) if w is not None]
        if waits:
            if self._metrics is not None:
                self._metrics.auth_failures.labels("rate_limited").inc()
            return ApiError(
                429,
                "too many failed authentications; retry later",
                headers={"Retry-After": str(max(waits))},
            )
        for key in keys:
            self.limiter.record(key, now)
        if self._metrics is not None:
            self._metrics.auth_failures.labels(reason).inc()
        return ApiError(401, message, headers=_CHALLENGE)

    def authenticate(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None
    ) -> Principal:
        """The caller, or an :class:`ApiError` (401, or 429 for a locked address or token).

        The token is checked first: a valid one is accepted whatever others
        failed from the same address. Only failures are limited, per address
        and per presented token (its hash), so a locked key locks nobody else.
        """
        address = "addr:" + self.client(request)
        if credentials is None:
            header = request.headers.get("authorization")
            reason = "missing" if header is None else "malformed"
            raise self._fail(reason, [address], "a bearer token is required")
        principal = self.identify(credentials.credentials) if self._tokens else None
        if principal is not None:
            return principal
        presented = "token:" + _presented_hash(credentials.credentials)
        if not self._tokens:
            raise self._fail("no_tokens_configured", [address, presented], "no token is configured")
        raise self._fail("invalid", [address, presented], "invalid token")

    def authenticate_metrics(self, request: Request, metrics_token: SecretStr) -> None:
        """Let a scrape of ``/metrics`` through with ``metrics_token`` or any ``/v1`` token.

        Raises :class:`ApiError` 401 (or 429), counted and limited like ``/v1`` failures.
        """
        header = request.headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
            expected = hashlib.sha256(metrics_token.get_secret_value().encode()).digest()
            if hmac.compare_digest(presented, expected) or self.identify(token) is not None:
                return
            keys = ["addr:" + self.client(request), "token:" + presented.hex()]
            raise self._fail("invalid", keys, "invalid token")
        reason = "missing" if not header else "malformed"
        raise self._fail(reason, ["addr:" + self.client(request)], "a bearer token is required")

    def authorize(self, principal: Principal, role: Role) -> None:
        if ROLE_RANK[principal.role] < ROLE_RANK[role]:
            if self._metrics is not None:
                self._metrics.auth_failures.labels("forbidden").inc()
            raise ApiError(403, f"role {principal.role!r} may not do this; needs {role!r}")


def require(role: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """FastAPI dependency: the authenticated caller, with at least ``role``."""

    async def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),  # noqa: B008
    ) -> Principal:
        auth: Authenticator = request.app.state.auth
        principal = auth.authenticate(request, credentials)
        auth.authorize(principal, role)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m service.api.auth hash [TOKEN]``: print the SHA-256 to configure."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "hash" or len(args) > 2:
        sys.stderr.write(
            "usage: python -m service.api.auth hash [TOKEN]  (TOKEN from stdin if omitted)\n"
        )
        return 2
    token = args[1] if len(args) == 2 else sys.stdin.readline().rstrip("\r\n")
    if not token:
        sys.stderr.write("empty token\n")
        return 2
    sys.stdout.write(token_digest(token) + "\n")
    return 0


def tokens_env_value(entries: Sequence[tuple[str, Role, str]]) -> str:
    """``GUARDIAN_AUTH__TOKENS`` value for ``(name, role, token)`` triples (tests, demos)."""
    return json.dumps(
        [{"name": n, "role": r, "token_sha256": token_digest(t)} for n, r, t in entries]
    )


if __name__ == "__main__":
    raise SystemExit(main())
