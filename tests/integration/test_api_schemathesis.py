"""Schemathesis against the published OpenAPI, as an admin: no request gives a 5xx.

Runs a real ``guardian run`` process (uvicorn, Kafka, config store) and the
``st`` CLI with a small, time-bounded budget.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api_helpers import TOKENS, api_settings, token_specs
from tests.kafka_helpers import process_log, start_guardian_process, wait_ready

pytestmark = pytest.mark.integration

ST = Path(sys.executable).with_name("st")


@pytest.mark.skipif(not ST.exists() and shutil.which("st") is None, reason="schemathesis missing")
async def test_schemathesis_finds_no_server_error(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = api_settings(kafka_bootstrap)
    proc = start_guardian_process(
        settings,
        GUARDIAN_AUTH__TOKENS=json.dumps(token_specs()),
        GUARDIAN_AUTH__MAX_FAILURES_PER_MINUTE="100000",
        GUARDIAN_REDACTION__WORKERS="0",
    )
    try:
        await wait_ready(settings.http.port)
        run = await asyncio.to_thread(
            subprocess.run,
            [
                str(ST) if ST.exists() else "st",
                "run",
                f"http://127.0.0.1:{settings.http.port}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "8",
                "--max-time",
                "40",
                "--request-timeout",
                "10",
                "--seed",
                "8",
                "--generation-database",
                "none",
                "--header",
                f"Authorization: Bearer {TOKENS['admin']}",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        report = run.stdout[-6000:] + run.stderr[-2000:]
        assert run.returncode == 0, report
        print(run.stdout[-3000:])
        assert " passed" in run.stdout and "Server error" not in run.stdout
        assert proc.poll() is None, process_log(proc)[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
