"""``/docs`` and ``/redoc`` work with no internet: every asset comes from Guardian itself.

FastAPI's default pages load Swagger UI and ReDoc from a CDN and render blank
where Guardian usually runs. The browser test renders ``/docs`` in headless
Chromium with every host but 127.0.0.1 unresolvable and finds the routes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from service.composition import build_guardian
from tests.api_helpers import client_for
from tests.kafka_helpers import free_port, make_settings

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|url: ?'([^']+)'""")


@pytest.fixture(scope="module")
def app() -> Any:
    # The app is built without starting the pipeline: no broker is needed for the docs.
    return build_guardian(make_settings("127.0.0.1:1")).app


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_doc_pages_load_every_asset_from_guardian(app: Any, page: str) -> None:
    async with client_for(app) as client:
        await _every_asset_is_local(client, page)


async def _every_asset_is_local(client: Any, page: str) -> None:
    html = await client.get(page)
    assert html.status_code == 200
    assets = [a or b for a, b in ASSET.findall(html.text)]
    assert assets, "the page references no script"
    assert "cdn" not in html.text.lower()
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        body = await client.get(asset)
        assert body.status_code == 200, asset
        assert len(body.content) > 100, asset


@pytest.fixture(scope="module")
def served(app: Any) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (make tools)")
def test_swagger_ui_renders_the_routes_with_no_network(served: str, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path}",
            # No name but the control plane's resolves: a CDN reference would fail to load.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{served}/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    # Rendered operations, not the static page: Swagger UI builds these from /openapi.json.
    assert 'class="opblock' in dom.stdout, dom.stdout[-2000:]
    for route in ("/v1/detectors", "/v1/policies/redaction", "/healthz"):
        assert route in dom.stdout, route
