"""Start real Prometheus and Alertmanager servers for tests (Debian packages).

Each server runs on a free loopback port with its own temporary config and
storage, and is stopped (terminate, then kill) on exit. Tests skip, with the
reason, where a binary is missing.

Use the context managers directly::

    with running_alertmanager(tmp_path) as am:
        httpx.get(am.url + "/api/v2/alerts")

    with running_prometheus(tmp_path, targets=["127.0.0.1:8080"],
                            rule_files=[RULES_DIR / "guardian-alerts.yml"],
                            alertmanager=am) as prom:
        prom.query("up")

or the fixtures ``alertmanager_server`` and ``prometheus_factory`` (import them
into a test module, or list this module in ``pytest_plugins`` of the root conftest).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = PROJECT_ROOT / "config" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
STARTUP_TIMEOUT = 20.0


def find_binary(*names: str) -> str | None:
    """First of ``names`` on PATH (Debian calls Alertmanager ``prometheus-alertmanager``)."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_binary(*names: str) -> str:
    """The binary's path, or skip the test saying which package provides it."""
    path = find_binary(*names)
    if path is None:
        pytest.skip(f"{names[0]} not installed (apt-get install -y {names[0]})")
    return path


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server: its process, base URL and log file."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    port: int
    workdir: Path
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def get(self, path: str, **params: Any) -> Any:
        """GET a JSON API path; the decoded body."""
        response = httpx.get(self.url + path, params=params, timeout=5.0)
        response.raise_for_status()
        return response.json()


@dataclass
class Prometheus(Server):
    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query; its result vector (raises on a PromQL error)."""
        body = self.get("/api/v1/query", query=expr)
        if body.get("status") != "success":
            raise AssertionError(f"query failed: {expr}: {body}")
        return list(body["data"]["result"])

    def check_query(self, expr: str) -> dict[str, Any]:
        """Run a query and return Prometheus' whole answer, errors included (never raises)."""
        response = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=5.0)
        return dict(response.json())

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts Prometheus holds (pending and firing)."""
        return list(self.get("/api/v1/alerts")["data"]["alerts"])

    def wait_for(self, expr: str, timeout: float = 30.0, interval: float = 0.5) -> list[Any]:
        """Poll ``expr`` until it returns a non-empty vector; raise after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr} stayed empty for {timeout}s\n{self.log_tail()}")
            time.sleep(interval)


@dataclass
class Alertmanager(Server):
    def alerts(self, **filters: Any) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds (``GET /api/v2/alerts``); active ones by default."""
        return list(self.get("/api/v2/alerts", **filters))


def _wait_ready(server: Server, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start:\n{server.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + "/-/ready", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {timeout}s:\n{server.log_tail()}")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


DEFAULT_ALERTMANAGER_CONFIG: dict[str, Any] = {
    "route": {
        "receiver": "blackhole",
        "group_by": ["alertname"],
        "group_wait": "1s",
        "group_interval": "1s",
        "repeat_interval": "1h",
    },
    "receivers": [{"name": "blackhole"}],
}


@contextlib.contextmanager
def running_alertmanager(
    workdir: Path, config: dict[str, Any] | None = None
) -> Iterator[Alertmanager]:
    """An Alertmanager on a free port with its own storage; clustering off."""
    binary = require_binary("prometheus-alertmanager", "alertmanager")
    home = workdir / "alertmanager"
    (home / "data").mkdir(parents=True, exist_ok=True)
    config_file = home / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(config or DEFAULT_ALERTMANAGER_CONFIG), encoding="utf-8")
    port = free_port()
    log = home / "alertmanager.log"
    with log.open("wb") as log_handle:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=log_handle,
            stderr=subprocess.STDOUT,
        )
    server = Alertmanager("alertmanager", process, f"http://127.0.0.1:{port}", port, home, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(server)


@contextlib.contextmanager
def running_prometheus(
    workdir: Path,
    targets: Sequence[str] = (),
    rule_files: Sequence[Path] = (),
    alertmanager: Alertmanager | None = None,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    metrics_path: str = "/metrics",
    job: str = "guardian",
    external_labels: dict[str, str] | None = None,
) -> Iterator[Prometheus]:
    """A Prometheus on a free port scraping ``targets`` as job ``job`` with ``rule_files``."""
    binary = require_binary("prometheus")
    home = workdir / "prometheus"
    (home / "data").mkdir(parents=True, exist_ok=True)
    rules_copy = home / "rules"
    rules_copy.mkdir(exist_ok=True)
    copied = []
    for rule_file in rule_files:
        target = rules_copy / Path(rule_file).name
        shutil.copyfile(rule_file, target)
        copied.append(str(target))
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval,
            **({"external_labels": external_labels} if external_labels else {}),
        },
        "rule_files": copied,
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": metrics_path,
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }
    if alertmanager is not None:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]
        }
    config_file = home / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    port = free_port()
    log = home / "prometheus.log"
    with log.open("wb") as log_handle:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log_handle,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus("prometheus", process, f"http://127.0.0.1:{port}", port, home, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(server)


@pytest.fixture
def alertmanager_server(tmp_path: Path) -> Iterator[Alertmanager]:
    """A fresh Alertmanager per test."""
    with running_alertmanager(tmp_path) as server:
        yield server


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Any]:
    """Start Prometheus servers with :func:`running_prometheus` arguments minus ``workdir``."""
    with contextlib.ExitStack() as stack:
        count = 0

        def start(**kwargs: Any) -> Prometheus:
            nonlocal count
            count += 1
            workdir = tmp_path / f"prom{count}"
            return stack.enter_context(running_prometheus(workdir, **kwargs))

        yield start
