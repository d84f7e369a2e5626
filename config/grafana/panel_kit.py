"""The parts every Guardian dashboard is built from: panels, variables, layout, the model.

Plain JSON in Grafana's dashboard model (see ``build_dashboards.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"
SCHEMA_VERSION = 39  # Grafana 10.4 / 11
#: Must equal the uid in provisioning/datasources/prometheus.yml.
DATASOURCE = {"type": "prometheus", "uid": "guardian-prometheus"}
RATE = "$__rate_interval"
Panel = dict[str, Any]

#: Alerts with a runbook in docs/runbooks, most urgent first (the SRE dashboard links them).
RUNBOOKS = (
    "GuardianDown",
    "GuardianKafkaUnreachable",
    "GuardianConsumerStalled",
    "GuardianNoPartitionsAssigned",
    "GuardianRedactionFailures",
    "GuardianUndecodableBatch",
    "GuardianConsumerLagHigh",
    "GuardianReplicasDown",
    "GuardianDLQRateHigh",
    "GuardianModelSilent",
    "GuardianAlertDeliveryFailing",
    "GuardianFairnessBreach",
    "GuardianPerformanceEstimateLow",
    "GuardianDriftDetected",
    "GuardianPolicyOverride",
    "GuardianConfigRefused",
)

# ----------------------------------------------------------------- thresholds


def steps(base: str, *marks: tuple[float, str]) -> dict[str, Any]:
    """Absolute thresholds: ``base`` colour below the first mark, then each mark's colour."""
    return {
        "mode": "absolute",
        "steps": [{"color": base, "value": None}]
        + [{"color": colour, "value": value} for value, colour in marks],
    }


#: Zero is good, anything above is bad (failures, firing alerts, replicas down).
ZERO_IS_GOOD = steps("green", (1, "red"))
#: One is good (up, reachable).
ONE_IS_GOOD = steps("red", (1, "green"))
#: Informational counts (no good or bad).
NEUTRAL = steps("blue")

# ----------------------------------------------------------------- panels


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "refId": ref,
        "range": not instant,
        "instant": instant,
        "format": "table" if instant else "time_series",
    }


def series(
    title: str,
    specs: Sequence[tuple[str, str]],
    unit: str = "short",
    *,
    thresholds: dict[str, Any] | None = None,
    bars: bool = False,
    description: str = "",
) -> Panel:
    """A time series panel; with ``thresholds`` they are drawn as lines (dashed)."""
    custom: dict[str, Any] = {
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 80 if bars else 10,
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "thresholdsStyle": {"mode": "dashed" if thresholds else "off"},
    }
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [
            target(expr, legend, ref=chr(ord("A") + i)) for i, (expr, legend) in enumerate(specs)
        ],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "color": {"mode": "palette-classic"},
                "custom": custom,
                "thresholds": thresholds or NEUTRAL,
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(
    title: str, expr: str, thresholds: dict[str, Any], unit: str = "short", description: str = ""
) -> Panel:
    """A single number coloured by ``thresholds`` (background), with a sparkline."""
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(expr)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "color": {"mode": "thresholds"},
                "thresholds": thresholds,
                "noValue": "0",
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        },
    }


def table(title: str, expr: str, description: str = "") -> Panel:
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(expr, instant=True)],
        "fieldConfig": {"defaults": {"thresholds": NEUTRAL}, "overrides": []},
        "options": {"showHeader": True, "cellHeight": "sm"},
        "transformations": [
            {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}}}
        ],
    }


def text(title: str, markdown: str) -> Panel:
    return {
        "type": "text",
        "title": title,
        "datasource": DATASOURCE,
        "options": {"mode": "markdown", "content": markdown},
    }


# ----------------------------------------------------------------- dashboard


def query_variable(name: str, query: str, label: str) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable"},
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,  # on time range change
        "sort": 1,
        "hide": 0,
    }


def runbook_variable() -> dict[str, Any]:
    """Where docs/runbooks is published; set it like the runbook_base_url external label."""
    return {
        "type": "textbox",
        "name": "runbooks",
        "label": "Runbooks at",
        "query": "docs/runbooks",
        "current": {"text": "docs/runbooks", "value": "docs/runbooks"},
        "hide": 0,
    }


def config_change_annotation() -> dict[str, Any]:
    """A marker whenever a replica applied a new shared config (audited in guardian.audit)."""
    return {
        "name": "Config changes",
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": "orange",
        "expr": 'changes(guardian_config_version{job="guardian"}[2m]) > 0',
        "step": "1m",
        "titleFormat": "Config change",
        "textFormat": "{{instance}} applied config version change",
        "tagKeys": "instance",
    }


BUILT_IN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def layout(rows: Sequence[Sequence[Panel]], height: int = 8) -> list[Panel]:
    """Place each row's panels side by side across Grafana's 24 columns; number them."""
    placed: list[Panel] = []
    y = 0
    ids = itertools.count(1)
    for row in rows:
        width = 24 // len(row)
        row_height = 4 if all(p["type"] == "stat" for p in row) else height
        for i, panel in enumerate(row):
            placed.append(
                {
                    "id": next(ids),
                    **panel,
                    "gridPos": {"h": row_height, "w": width, "x": i * width, "y": y},
                }
            )
        y += row_height
    return placed


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: Sequence[Sequence[Panel]],
    variables: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["guardian"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,  # shared crosshair
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timepicker": {},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {"list": [BUILT_IN_ANNOTATION, config_change_annotation()]},
        "links": [
            {
                "title": "Guardian dashboards",
                "type": "dashboards",
                "tags": ["guardian"],
                "asDropdown": True,
                "includeVars": False,
                "keepTime": True,
            }
        ],
        "templating": {"list": list(variables)},
        "panels": layout(rows),
    }


MODEL = query_variable("model", "label_values(guardian_events_processed_total, model)", "Model")
