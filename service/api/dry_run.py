"""Dry runs, isolated from the pipeline: their own engine, a size bound, a time budget, a rate.

A dry run analyses a sample an operator sends. It must never cost the
pipeline anything: a large or slow sample used to run in the pipeline's own
analysis pool, time it out, kill it and fail the in-flight events with it,
and its findings were counted in ``guardian_redactions_total`` like real
traffic. Here:

* bodies of the dry-run routes are bounded *before* they are read
  (``http.max_dry_run_bytes``, 413), by an ASGI middleware;
* each token may make ``http.dry_runs_per_minute`` dry runs (429 with
  ``Retry-After``);
* redaction dry runs use a separate in-process engine (one thread, built on
  first use and kept per policy content hash), with no metrics, and a time
  budget (``http.dry_run_timeout_s``): past it, or while an earlier dry run is
  still running in that thread, the answer is 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Collection
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.auth import FailureLimiter, Principal
from service.api.errors import ApiError, error_response
from service.redaction.engine import Finding, GuardianAnalyzer, build_engine, quiet_presidio
from service.redaction.policy import RedactionPolicy
from service.redaction.redactor import RedactionOutcome, Redactor
from service.redaction.settings import RedactionSettings
from service.redaction.workers import analyze_items

if TYPE_CHECKING:
    from service.settings import GuardianSettings

log = logging.getLogger(__name__)

DRY_RUN_PATHS = frozenset({"/v1/policies/redaction/dry-run", "/v1/policies/retention/dry-run"})
_RETRY_S = 2


class BodyLimit:
    """Answer 413 for a body over ``max_bytes`` on ``paths``, reading at most that much.

    A ``Content-Length`` over the bound is refused unread; a chunked body is
    read up to the bound and refused as soon as it passes it. A body within the
    bound is handed on unchanged.
    """

    def __init__(self, app: ASGIApp, paths: Collection[str], max_bytes: int) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            f"the body is larger than http.max_dry_run_bytes ({self.max_bytes} bytes); "
            "send a smaller sample",
        )
        await response(scope, receive, send)


def install_body_limit(app: FastAPI, paths: Collection[str], max_bytes: int) -> None:
    """Bound the bodies of ``paths`` (see :class:`BodyLimit`)."""
    app.add_middleware(BodyLimit, paths=paths, max_bytes=max_bytes)


class _SandboxRedactor(Redactor):
    """A redactor with its own engine in its own thread: no shared pool, cache or metrics."""

    def __init__(self, policy: RedactionPolicy, settings: RedactionSettings) -> None:
        super().__init__(policy, settings, metrics=None)
        self._engine: GuardianAnalyzer | None = None
        self._running = 0
        self._lock = threading.Lock()
        self._analyze_override = self._analyze
        self._warm_override = self._warm

    @property
    def busy(self) -> bool:
        """Whether an analysis is still running in the sandbox thread (e.g. past its budget)."""
        with self._lock:
            return self._running > 0

    def _warm(
        self, policy_json: str, engine_key: str, spacy_model: str | None, fast_path: bool
    ) -> int:
        quiet_presidio()
        if self._engine is None:
            policy = RedactionPolicy.model_validate_json(policy_json)
            self._engine = build_engine(policy, spacy_model, fast_path)
        return threading.get_ident()

    def _analyze(
        self,
        policy_json: str,
        engine_key: str,
        spacy_model: str | None,
        fast_path: bool,
        items: list[tuple[str, tuple[str, ...]]],
    ) -> list[list[Finding]]:
        with self._lock:
            self._running += 1
        try:
            self._warm(policy_json, engine_key, spacy_model, fast_path)
            assert self._engine is not None
            return analyze_items(self._engine, items)
        finally:
            with self._lock:
                self._running -= 1


class DryRuns:
    """Rate limit per token and the sandboxed redaction engine of the dry-run routes.

    Parameters
    ----------
    redaction
        The pipeline's redaction settings (keys, NER model); the sandbox runs
        them with one in-process thread, no worker processes.
    timeout_s
        Time budget of one redaction dry run (and of waiting for the engine build).
    per_minute
        Dry runs one token may make in a sliding minute.
    """

    def __init__(self, redaction: RedactionSettings, timeout_s: float, per_minute: int) -> None:
        self.settings = redaction.model_copy(
            update={"workers": 0, "timeout_s": timeout_s, "cache_size": 256}
        )
        self.timeout_s = timeout_s
        self.limiter = FailureLimiter(per_minute)
        self._key: str | None = None
        self._sandbox: _SandboxRedactor | None = None
        self._starting: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: GuardianSettings) -> DryRuns:
        http = settings.http
        return cls(settings.redaction, http.dry_run_timeout_s, http.dry_runs_per_minute)

    def admit(self, principal: Principal) -> None:
        """Count one dry run of this token; 429 with ``Retry-After`` past the limit."""
        key = f"dry-run:{principal.name}"
        wait = self.limiter.retry_after(key)
        if wait is not None:
            raise ApiError(
                429,
                "too many dry runs for this token; retry later (http.dry_runs_per_minute)",
                headers={"Retry-After": str(wait)},
            )
        self.limiter.record(key)

    def _unavailable(self, message: str) -> ApiError:
        return ApiError(503, message, headers={"Retry-After": str(_RETRY_S)})

    async def _sandbox_for(self, policy: RedactionPolicy) -> _SandboxRedactor:
        """The started sandbox of ``policy`` (by content hash); built lazily, old one closed."""
        key = policy.content_hash()
        if key != self._key or self._sandbox is None:
            old = self._sandbox
            self._sandbox, self._key = _SandboxRedactor(policy, self.settings), key
            self._starting = asyncio.create_task(self._sandbox.start(), name="dry-run-engine")
            if old is not None:
                self._close_later(old.close())
        assert self._starting is not None
        done, _ = await asyncio.wait({self._starting}, timeout=self.timeout_s)
        if not done:
            raise self._unavailable(
                "the dry-run engine for this policy is still being built; retry in a few seconds"
            )
        if self._starting.exception() is not None:
            failed, self._sandbox, self._key = self._sandbox, None, None
            log.warning(
                "dry-run engine could not be built (%s)", type(self._starting.exception()).__name__
            )
            self._close_later(failed.close())
            raise self._unavailable("the dry-run engine could not be built")
        return self._sandbox

    def _close_later(self, closing: Awaitable[None]) -> None:
        async def run() -> None:
            with contextlib.suppress(Exception):
                await closing

        task = asyncio.ensure_future(run())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def redact(self, policy: RedactionPolicy, event: dict[str, Any]) -> RedactionOutcome:
        """Redact one sample under ``policy`` within the time budget; 503 when it cannot."""
        sandbox = await self._sandbox_for(policy)
        if sandbox.busy:
            raise self._unavailable(
                "an earlier dry run is still running past its time budget; retry later"
            )
        [outcome] = await sandbox.redact_batch([event])
        if outcome.failed and outcome.reason == "analysis failed (timeout)":
            raise self._unavailable(
                f"the dry run exceeded its time budget (http.dry_run_timeout_s = "
                f"{self.timeout_s:g} s); send a smaller sample"
            )
        return outcome

    async def close(self) -> None:
        """Stop the sandbox thread (tests; the process exit stops it otherwise)."""
        sandbox, self._sandbox, self._key = self._sandbox, None, None
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._starting
        if sandbox is not None:
            self._close_later(sandbox.close())
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
