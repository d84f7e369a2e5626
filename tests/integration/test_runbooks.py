"""docs/runbooks: one page per alert, each usable at 3 a.m. by someone new to Guardian."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.alerting.rules import AlertName
from tests.promql import PROJECT_ROOT
from tests.unit.test_alert_sources import prometheus_alerts

RUNBOOKS = PROJECT_ROOT / "docs" / "runbooks"
DASHBOARD_UIDS = {
    json.loads(p.read_text(encoding="utf-8"))["uid"]
    for p in (PROJECT_ROOT / "config" / "grafana" / "dashboards").glob("*.json")
}
PAGES = sorted(RUNBOOKS.glob("Guardian*.md"))


def test_every_alert_has_a_page_and_every_page_an_alert() -> None:
    alerts = prometheus_alerts() | {n.value for n in AlertName if n is AlertName.DRIFT}
    assert {p.stem for p in PAGES} == alerts
    index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    for page in PAGES:
        assert f"]({page.name})" in index, page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_has_owner_escalation_dashboard_commands_and_verification(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for part in (
        "**Owner**",
        "**Escalation**",
        "**Dashboard.**",
        "**First commands.**",
        "**Verify the fix.**",
    ):
        assert part in text, f"{page.name}: no {part}"
    linked = set(re.findall(r"/d/([a-z0-9-]+)", text))
    assert linked and linked <= DASHBOARD_UIDS, (page.name, linked)
    assert "```sh" in text, page.name


@pytest.mark.parametrize("page", [*PAGES, RUNBOOKS / "README.md"], ids=lambda p: p.stem)
def test_kcat_commands_name_the_broker_and_never_print_values(page: Path) -> None:
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("kcat ") or "| kcat " in line:
            assert ' -b "$KAFKA"' in line, f"{page.name}: {line}"
            if " -C " in line:  # consuming: keys, headers, offsets only
                assert " -f '" in line and "%s" not in line, f"{page.name}: {line}"
