"""Start real ``guardian run`` replicas for the Kafka benchmarks, and wait until they are ready."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from load_tests import harness


class Replica:
    """One ``guardian run`` subprocess with its own HTTP port and log file."""

    def __init__(self, kafka: dict[str, Any], replica_id: str | None = None) -> None:
        self.port = harness.free_port()
        env = {
            **os.environ,
            **harness.kafka_env(kafka),
            "GUARDIAN_HTTP__PORT": str(self.port),
            "GUARDIAN_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(harness.ROOT),
        }
        if replica_id is not None:
            env["GUARDIAN_REPLICA_ID"] = replica_id
        log = tempfile.NamedTemporaryFile(prefix="bench-replica-", suffix=".log", delete=False)
        self.log_path = Path(log.name)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            env=env,
            cwd=harness.ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        log.close()

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"replica exited: {self.log()[-2000:]}")
                try:
                    r = await client.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1)
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"replica on port {self.port} not ready: {self.log()[-2000:]}")

    async def metrics_text(self) -> str:
        import httpx

        async with httpx.AsyncClient() as client:
            r = await client.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5)
            return r.text

    async def events_consumed(self) -> float:
        """``guardian_events_consumed_total`` of this process; 0 while it does not answer."""
        import httpx

        try:
            text = await self.metrics_text()
        except httpx.HTTPError:
            return 0.0
        for line in text.splitlines():
            if line.startswith("guardian_events_consumed_total"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM (a graceful stop leaves the group properly), then wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_path.unlink(missing_ok=True)
