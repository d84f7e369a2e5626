"""Authentication and roles: unit checks, and the role matrix over every /v1 route."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from service.api.auth import (
    Authenticator,
    FailureLimiter,
    client_address,
    load_tokens_file,
    main,
    token_digest,
)
from service.settings import AuthSettings, TokenSpec
from tests.api_helpers import (
    TOKENS,
    api_settings,
    client_for,
    headers,
    running,
    seed_alert,
    seed_detector,
    token_specs,
)
from tests.kafka_helpers import ROOT

ROLES = ("viewer", "operator", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}


def test_identify_uses_digests_and_never_keeps_tokens() -> None:
    auth = Authenticator([TokenSpec.model_validate(t) for t in token_specs()])
    assert auth.identify(TOKENS["admin"]).role == "admin"  # type: ignore[union-attr]
    assert auth.identify(TOKENS["viewer"]).name == "vera"  # type: ignore[union-attr]
    assert auth.identify(TOKENS["admin"] + "x") is None
    assert auth.identify("") is None
    assert TOKENS["admin"] not in repr(vars(auth))


def test_limiter_window_and_retry_after() -> None:
    limiter = FailureLimiter(max_per_minute=3)
    for t in (0.0, 10.0, 20.0):
        assert limiter.retry_after("a", now=t) is None
        limiter.record("a", now=t)
    assert limiter.retry_after("a", now=21.0) == 39
    assert limiter.retry_after("b", now=21.0) is None
    assert limiter.retry_after("a", now=60.5) is None


def test_tokens_file_yaml_and_json(tmp_path: Any) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(f"- name: bob\n  role: operator\n  token_sha256: {token_digest('s3cret')}\n")
    auth = Authenticator.from_settings(AuthSettings(tokens_file=path))
    assert auth.identify("s3cret").name == "bob"  # type: ignore[union-attr]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "x", "role": "root", "token_sha256": "00"}]')
    with pytest.raises(ValueError, match="invalid entries") as exc:
        load_tokens_file(bad)
    assert "00" not in str(exc.value).split("at ")[-1]


def test_hash_helper(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hash", "demo"]) == 0
    assert capsys.readouterr().out.strip() == token_digest("demo")
    monkeypatch.setattr(sys, "stdin", io.StringIO("piped\n"))
    assert main(["hash"]) == 0
    assert capsys.readouterr().out.strip() == token_digest("piped")
    assert main(["nope"]) == 2
    out = subprocess.run(
        [sys.executable, "-m", "service.api.auth", "hash", "demo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert out.stdout.strip() == token_digest("demo")


# -- against a started Guardian ------------------------------------------------------------------

Route = tuple[str, str | Callable[[Any], str], str, Any]


def _routes(guardian: Any, det: str, alert: str) -> list[Route]:
    def new_silence(g: Any) -> str:
        s = g.alerts.add_silence([{"name": "model", "value": "x"}], ends_at=4e9, created_by="t")
        return f"/v1/silences/{s.id}"

    redaction = guardian.control.current.redaction
    retention = guardian.control.current.retention
    sample = {
        "event_id": "e1",
        "timestamp": "2026-11-30T12:00:00Z",
        "model": {"name": "m", "version": "1"},
        "inputs": {"text": "hi"},
    }
    silence = {"matchers": [{"name": "model", "value": "x"}], "ends_at": "2099-01-01T00:00:00Z"}
    return [
        ("GET", "/v1/detectors", "viewer", None),
        ("GET", f"/v1/detectors/{det}", "viewer", None),
        ("PATCH", f"/v1/detectors/{det}", "admin", {"params": {"false_alarms_per_day": 0.01}}),
        ("GET", "/v1/detectors/budget", "viewer", None),
        ("PUT", "/v1/detectors/budget", "admin", {"false_alarms_per_stream_per_day": 0.005}),
        ("POST", f"/v1/detectors/{det}/reset", "operator", None),
        ("GET", "/v1/replicas", "viewer", None),
        ("GET", "/v1/models", "viewer", None),
        ("GET", "/v1/models/credit-risk/detectors", "viewer", None),
        (
            "PUT",
            "/v1/models/credit-risk/detectors",
            "admin",
            {"score": [{"kind": "adwin", "params": {"delta": 0.001}}]},
        ),
        ("POST", "/v1/detectors/backtest", "operator", {"model": "credit-risk", "since": "5m"}),
        ("GET", "/v1/models/credit-risk/performance", "viewer", None),
        ("GET", "/v1/models/credit-risk/performance/thresholds", "viewer", None),
        (
            "PUT",
            "/v1/models/credit-risk/performance/thresholds",
            "admin",
            {"thresholds": {"accuracy": 0.6}},
        ),
        ("GET", "/v1/models/credit-risk/reference", "viewer", None),
        ("PUT", "/v1/models/credit-risk/reference", "admin", REFERENCE),
        ("DELETE", "/v1/models/credit-risk/reference", "admin", None),
        ("GET", "/v1/policies/redaction", "viewer", None),
        ("PUT", "/v1/policies/redaction", "admin", redaction),
        ("POST", "/v1/policies/redaction/dry-run", "operator", {"event": sample}),
        ("GET", "/v1/policies/retention", "viewer", None),
        ("PUT", "/v1/policies/retention", "admin", retention),
        ("POST", "/v1/policies/retention/dry-run", "operator", {"event": sample}),
        ("GET", "/v1/alerts", "viewer", None),
        ("GET", f"/v1/alerts/{alert}", "viewer", None),
        ("POST", f"/v1/alerts/{alert}/ack", "operator", None),
        ("GET", "/v1/silences", "viewer", None),
        ("POST", "/v1/silences", "operator", silence),
        ("DELETE", new_silence, "operator", None),
        ("GET", "/v1/audit", "viewer", None),
        ("GET", "/v1/config", "viewer", None),
        ("GET", "/v1/config/versions", "viewer", None),
        ("POST", "/v1/config/rollback", "admin", {"version": 0}),
    ]


REFERENCE = {"features": {"age": {"quantiles": {"probs": [0, 0.5, 1], "values": [18, 40, 90]}}}}


async def test_role_matrix_over_every_route(kafka_bootstrap: str) -> None:
    async with running(api_settings(kafka_bootstrap)) as guardian, client_for(guardian.app) as c:
        det, alert = seed_detector(guardian), seed_alert(guardian)
        for i in range(20):  # a performance window to answer for
            outputs = {"score": (i % 10) / 10, "prediction": i % 2}
            guardian.performance.observe("credit-risk", "1", outputs, event_id=f"perf-{i}")
        routes = _routes(guardian, det, alert)
        paths = guardian.app.openapi()["paths"]
        operations = [(m, p) for p, ops in paths.items() if p.startswith("/v1") for m in ops]
        assert len(operations) == len(routes), "every /v1 operation is in the matrix"
        for method, path, needed, body in routes:
            for who in (None, "bad", *ROLES):
                url = path(guardian) if callable(path) else path
                h = {"Authorization": "Bearer wrong"} if who == "bad" else headers(who)
                r = await c.request(method, url, json=body, headers=h)
                label = f"{method} {url} as {who}"
                if who in (None, "bad"):
                    assert r.status_code == 401, label
                    assert r.headers["WWW-Authenticate"] == "Bearer", label
                    assert r.json()["error"]["code"] == "unauthorized", label
                elif RANK[who] < RANK[needed]:
                    assert r.status_code == 403, label
                    assert r.json()["error"]["code"] == "forbidden", label
                else:
                    assert 200 <= r.status_code < 300, f"{label}: {r.status_code} {r.text}"
        for open_path in ("/healthz", "/metrics"):
            assert (await c.get(open_path)).status_code == 200
        assert (await c.get("/readyz")).status_code in (200, 503)
        # No token anywhere in what was recorded.
        audit = (await c.get("/v1/audit", params={"limit": 1000}, headers=headers("admin"))).text
        assert all(t not in audit for t in TOKENS.values())
        metrics = (await c.get("/metrics")).text
        assert 'guardian_auth_failures_total{reason="missing"}' in metrics
        assert 'guardian_auth_failures_total{reason="invalid"}' in metrics
        assert 'guardian_auth_failures_total{reason="forbidden"}' in metrics


async def test_rate_limit_and_no_tokens_configured(kafka_bootstrap: str) -> None:
    settings = api_settings(kafka_bootstrap, auth={"tokens": [], "max_failures_per_minute": 3})
    async with running(settings) as guardian, client_for(guardian.app) as c:
        # No token configured: every /v1 route is closed, even to a well-formed token.
        for _ in range(3):
            r = await c.get("/v1/detectors", headers=headers("admin"))
            assert r.status_code == 401
        r = await c.get("/v1/detectors", headers=headers("admin"))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert r.json()["error"]["code"] == "rate_limited"
        assert (await c.get("/healthz")).status_code == 200
        metrics = (await c.get("/metrics")).text
        assert 'guardian_auth_failures_total{reason="rate_limited"} 1.0' in metrics
        assert 'guardian_auth_failures_total{reason="no_tokens_configured"} 3.0' in metrics


# -- issue 15.7: others' failures never lock a valid token; proxies; /metrics token ----------


@contextlib.asynccontextmanager
async def client_at(app: Any, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://guardian") as client:
        yield client


def test_client_address_believes_only_trusted_proxies() -> None:
    nets = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]
    assert client_address("10.0.0.5", "203.0.113.9", nets) == "203.0.113.9"
    # Each trusted hop is skipped from the right; what the client itself wrote is not believed.
    assert client_address("10.0.0.5", "1.1.1.1, 203.0.113.9, 10.0.0.7", nets) == "203.0.113.9"
    assert client_address("198.51.100.1", "203.0.113.9", nets) == "198.51.100.1"
    assert client_address("10.0.0.5", "not-an-ip", nets) == "10.0.0.5"
    assert client_address("10.0.0.5", None, nets) == "10.0.0.5"
    assert client_address("fd00::1", "2001:db8::1", nets) == "2001:db8::1"
    assert client_address("10.0.0.5", "203.0.113.9", []) == "10.0.0.5"


async def test_failures_lock_only_the_failing_address_or_token(kafka_bootstrap: str) -> None:
    settings = api_settings(
        kafka_bootstrap,
        auth={"max_failures_per_minute": 3},
        http={"trusted_proxies": ["10.9.0.0/16"]},
    )
    wrong = {"Authorization": "Bearer wrong-token-0123456789"}
    async with running(settings) as guardian:
        app = guardian.app
        async with client_at(app, "10.1.2.3") as c:
            for _ in range(3):
                assert (await c.get("/v1/detectors", headers=wrong)).status_code == 401
            r = await c.get("/v1/detectors", headers=wrong)
            assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
            assert (await c.get("/v1/detectors")).status_code == 429  # no token: same address
            # The valid admin token behind the same address is never refused.
            r = await c.get("/v1/detectors", headers=headers("admin"))
            assert r.status_code == 200, r.text
        # The same wrong token is locked from any address (its hash is a key too) ...
        async with client_at(app, "10.1.2.4") as c:
            assert (await c.get("/v1/detectors", headers=wrong)).status_code == 429
            # ... while another address with another wrong token is not.
            other = {"Authorization": "Bearer another-wrong-token"}
            assert (await c.get("/v1/detectors", headers=other)).status_code == 401
        # Behind a trusted proxy, clients are told apart by X-Forwarded-For ...
        async with client_at(app, "10.9.0.1") as proxy:
            bad = {"Authorization": "Bearer proxy-wrong-1"}
            for _ in range(3):
                r = await proxy.get(
                    "/v1/detectors", headers={**bad, "X-Forwarded-For": "203.0.113.9"}
                )
                assert r.status_code == 401
            r = await proxy.get(
                "/v1/detectors",
                headers={"Authorization": "Bearer x2", "X-Forwarded-For": "203.0.113.9"},
            )
            assert r.status_code == 429
            r = await proxy.get(
                "/v1/detectors",
                headers={"Authorization": "Bearer x3", "X-Forwarded-For": "203.0.113.10"},
            )
            assert r.status_code == 401
        # ... but from anywhere else the header is ignored: it cannot dodge an address lock.
        async with client_at(app, "10.1.2.3") as c:
            r = await c.get(
                "/v1/detectors",
                headers={"Authorization": "Bearer x4", "X-Forwarded-For": "192.0.2.77"},
            )
            assert r.status_code == 429


async def test_metrics_can_require_a_token(kafka_bootstrap: str) -> None:
    settings = api_settings(kafka_bootstrap, http={"metrics_token": "scrape-secret-0123456789"})
    assert "scrape-secret" not in repr(settings.http)
    async with running(settings) as guardian, client_for(guardian.app) as c:
        assert (await c.get("/metrics")).status_code == 401
        r = await c.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = await c.get("/metrics", headers={"Authorization": "Bearer scrape-secret-0123456789"})
        assert r.status_code == 200 and "guardian_events_consumed_total" in r.text
        assert (await c.get("/metrics", headers=headers("viewer"))).status_code == 200
        assert (await c.get("/healthz")).status_code == 200
