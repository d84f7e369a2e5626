"""Generate Guardian's Grafana dashboards as plain JSON (Grafana's dashboard model, schema 39).

    python config/grafana/build_dashboards.py          # rewrite dashboards/*.json
    python config/grafana/build_dashboards.py --check  # exit 1 if they are stale

No generator library: the JSON model is small and documented
(https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/),
and a library that lags Grafana (grafanalib wrote schemaVersion 12 and needed its
private ``_gen`` module to serialise) costs more than it saves. The committed JSON
is provisioned from ``config/grafana/dashboards``; ``tests/integration/test_dashboards.py``
checks that it is up to date, structurally valid for Grafana 10/11, and that every
query, variable and annotation runs on a real Prometheus against Guardian's metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# The dashboards live in sibling modules; this file is run as a script (and loaded by path
# in the tests), so its folder is put on the import path first.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboards_ml import drift, fairness, performance
from dashboards_ops import alerts, overview, sre
from panel_kit import OUT_DIR, RUNBOOKS

__all__ = ["BUILDERS", "RUNBOOKS", "main", "render"]

BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "sre": sre,
    "overview": overview,
    "drift": drift,
    "fairness": fairness,
    "performance": performance,
    "alerts": alerts,
}


def render(name: str) -> str:
    """One dashboard as the JSON text committed under ``dashboards/``."""
    return json.dumps(BUILDERS[name](), indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed JSON is stale")
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(exist_ok=True)
    stale = []
    for name in BUILDERS:
        path = OUT_DIR / f"guardian-{name}.json"
        rendered = render(name)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != rendered:
                stale.append(path.name)
        else:
            path.write_text(rendered, encoding="utf-8")
    if stale:
        sys.stderr.write(
            "stale dashboards (run config/grafana/build_dashboards.py): " + ", ".join(stale) + "\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
