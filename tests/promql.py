"""What a PromQL expression reads, and what Guardian exports, for config tests.

Not a PromQL parser: a tokenizer good enough for the rules and dashboards shipped
here (strings, label matchers, ranges and grouping clauses are removed, then
every identifier not followed by ``(`` and not a keyword is a metric name).
Query validity itself is checked by a real Prometheus where one is installed.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from service.kafka.group_offsets import GroupOffsetMetrics
from service.metrics import GuardianMetrics

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = PROJECT_ROOT / "config" / "prometheus" / "rules"

KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "atan2",
        "inf",
        "nan",
        "Inf",
        "NaN",
    }
)
#: Series Prometheus makes itself for every target.
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (Grafana ``$variables`` ignored)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _VARIABLE.sub(" ", text)
    return {
        m.group(1) for m in _IDENT.finditer(text) if not m.group(2) and m.group(1) not in KEYWORDS
    }


def exported_names(registry: CollectorRegistry | None = None) -> set[str]:
    """Every series name Guardian's registry can expose (suffixes included)."""
    if registry is None:
        registry = GuardianMetrics().registry
        GroupOffsetMetrics(registry)  # the broker's-view lag monitor of every replica
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names |= {family.name + "_total", family.name + "_created"}
        elif family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_sum", "_count", "_created")}
        else:
            names.add(family.name)
    return names


def recording_rule_names() -> set[str]:
    names: set[str] = set()
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names


def known_names() -> set[str]:
    """What a query may read: Guardian's metrics, recording rules, Prometheus' own series."""
    return exported_names() | recording_rule_names() | SYNTHETIC
