"""What a Guardian process imports: nothing heavy it never uses (issue 19, bounded memory).

``river.drift``'s package ``__init__`` pulls scikit-learn, pandas and scipy.stats
(~100 MiB per process) through its datasets; Guardian imports River's detector
modules alone (:mod:`detectors.river_compat_imports`), fits isotonic calibration in numpy,
and imports KSWIN's scipy.stats only for a KSWIN detector. Each check runs in a
fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import subprocess
import sys

#: Modules the main process must not import for the shipped config and demo workload.
HEAVY = ("sklearn", "pandas", "scipy.stats", "river.drift.datasets", "nannyml", "spacy")

FEED = """
import asyncio, itertools, sys
from load_tests.workload import StageDriver
from service.composition import build_guardian
from service.demo.stream import DemoConfig, DemoStream
from service.settings import GuardianSettings

async def main():
    guardian = build_guardian(GuardianSettings.load(None, redaction={"workers": 1}))
    await guardian.redactor.start()
    driver = StageDriver(guardian)
    records = list(itertools.islice(DemoStream(DemoConfig(seed=3)), 2000))
    for start in (0, 1000):
        await driver.run_batch([(r.key, r.value) for r in records[start : start + 1000]])
        for r in records[start : start + 1000]:
            if r.label is not None:
                guardian.detect.on_label(r.label)
    await guardian.redactor.close()
    fitted = [s.window.calibrator.method for s in guardian.performance._slots.values()]
    print("isotonic fitted", "isotonic" in fitted)

if __name__ == "__main__":
    asyncio.run(main())
    print("imported:" + ",".join(m for m in {heavy} if m in sys.modules))
"""


def _run(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    return out.stdout.strip().splitlines()


def test_importing_the_composition_root_loads_nothing_heavy() -> None:
    code = (
        "import sys, service.composition\n"
        f"print('imported:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert _run(code) == ["imported:"]


def test_river_drift_package_stays_whole_when_asked_for() -> None:
    code = """
import sys
import detectors.drift, river.drift
before = "river.drift.datasets" in sys.modules
from river.drift import ADWIN, datasets
from river.drift.adwin import ADWIN as direct
print(before, "river.drift.datasets" in sys.modules, ADWIN is direct, datasets.__name__)
"""
    assert _run(code) == ["False True True river.drift.datasets"]


def test_the_demo_workload_loads_nothing_heavy_in_the_main_process() -> None:
    """Events, labels and isotonic calibration fits (the demo's), redaction in a worker."""
    calibration, imported = _run(FEED.replace("{heavy}", repr(HEAVY)))
    assert calibration == "isotonic fitted True"
    assert imported == "imported:"
