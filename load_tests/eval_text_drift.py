"""Evaluate text drift streams on a synthetic prompt stream with a topic or language change.

Prompts are drawn from templates and word lists (seeded). Three scenarios:

- ``none``: travel questions in English throughout (false alarms only);
- ``topic``: from event ``--change`` on, cooking questions in English;
- ``language``: from event ``--change`` on, the same travel questions in German.

Each prompt goes through :class:`~detectors.text.statistics.TextStatistics` and
the resulting ``text.input.*`` features through the drift registry with the
shipped detector specs (config/detectors.yaml), exactly as the detect stage
feeds them. Printed per scenario and stream: seeds that detected the change,
median and max detection delay in events after the change, and false alarms
(detections before the change, or anywhere without one). Also the cost of the
statistics per text.

Usage: ``python -m load_tests.eval_text_drift [--quick] [--seeds N] [--events N]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs
from detectors.text.config import TextConfig
from detectors.text.statistics import TextStatistics
from load_tests import harness

MODEL = "chat-assistant"
STREAMS = ("ngram_js", "language", "chars", "tokens")

TRAVEL_EN = (
    "Can you plan a {n}-day trip to {place} for {who}?",
    "What is the best time of year to visit {place} with {who}?",
    "Which neighbourhoods in {place} are good for {who} on a budget?",
    "How do I get from the airport to the centre of {place} late at night?",
)
TRAVEL_DE = (
    "Kannst du eine {n}-tägige Reise nach {place} für {who_de} planen?",
    "Wann ist die beste Reisezeit für {place} mit {who_de}?",
    "Welche Viertel in {place} sind gut für {who_de} mit kleinem Budget?",
    "Wie komme ich spät abends vom Flughafen ins Zentrum von {place}?",
)
COOKING_EN = (
    "How long should I roast {dish} for {n} people at {temp} degrees?",
    "What can I use instead of {ingredient} in {dish}?",
    "Give me a quick weeknight recipe with {ingredient} and {ingredient2}.",
    "Why does my {dish} turn out dry, and how do I keep it moist?",
)
PLACES = ("Lisbon", "Kyoto", "Oslo", "Marrakesh", "Vancouver", "Naples", "Tallinn", "Cusco")
WHO = ("two adults", "a family with kids", "a solo traveller", "my grandparents")
WHO_DE = ("zwei Erwachsene", "eine Familie mit Kindern", "Alleinreisende", "meine Großeltern")
DISHES = ("a whole chicken", "lasagne", "pork shoulder", "a vegetable tart", "salmon")
INGREDIENTS = ("buttermilk", "shallots", "fresh thyme", "miso", "chickpeas", "smoked paprika")


def _prompt(rng: random.Random, kind: str) -> str:
    fill = {
        "n": rng.randint(2, 14),
        "place": rng.choice(PLACES),
        "who": rng.choice(WHO),
        "who_de": rng.choice(WHO_DE),
        "dish": rng.choice(DISHES),
        "ingredient": rng.choice(INGREDIENTS),
        "ingredient2": rng.choice(INGREDIENTS),
        "temp": rng.choice((160, 180, 200, 220)),
    }
    templates = {"travel": TRAVEL_EN, "german": TRAVEL_DE, "cooking": COOKING_EN}[kind]
    text = rng.choice(templates).format(**fill)
    if rng.random() < 0.3:  # some prompts carry more context
        text += " " + rng.choice(("Thanks!", "Please keep it short.", "I have a tight budget."))
    return text


def run_seed(seed: int, scenario: str, events: int, change: int) -> dict[str, Any]:
    rng = random.Random(seed)
    stats = TextStatistics(
        TextConfig.from_mapping(
            {"models": [{"model": "*", "statistics": list(STREAMS), "fields": {"input": "p"}}]}
        )
    )
    stats.load()
    registry = DetectorRegistry(DetectorSpecs.load())
    after = {"none": "travel", "topic": "cooking", "language": "german"}[scenario]
    detections: dict[str, list[int]] = defaultdict(list)
    spent = 0.0
    for i in range(events):
        kind = "travel" if scenario == "none" or i < change else after
        started = time.perf_counter()
        features = stats.features(MODEL, "1", {"p": _prompt(rng, kind)})
        spent += time.perf_counter() - started
        for result in registry.observe(MODEL, "1", features, {}, ts=float(i)):
            stream = result.feature.removeprefix("text.input.")
            if stream in STREAMS:
                detections[stream].append(i)
    return {"detections": dict(detections), "us_per_text": spent / events * 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, 4,000 events")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--events", type=int, default=8000)
    args = parser.parse_args(argv)
    seeds, events = (3, 4000) if args.quick else (args.seeds, args.events)
    change = events // 2
    print(f"eval_text_drift: {seeds} seeds, {events} prompts, change at {change}")
    summary: dict[str, Any] = {}
    costs: list[float] = []
    print("| scenario | stream | detected | median delay | max delay | false alarms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for scenario in ("none", "topic", "language"):
        runs = [run_seed(s, scenario, events, change) for s in range(seeds)]
        costs += [r["us_per_text"] for r in runs]
        for stream in STREAMS:
            delays, false_alarms = [], 0
            for r in runs:
                hits = r["detections"].get(stream, [])
                if scenario == "none":
                    false_alarms += len(hits)
                    continue
                false_alarms += sum(1 for h in hits if h < change)
                late = [h - change for h in hits if h >= change]
                if late:
                    delays.append(late[0])
            if scenario == "none":
                detected = median = worst = "-"
            else:
                detected = f"{len(delays)}/{seeds}"
                median = f"{statistics.median(delays):.0f}" if delays else "-"
                worst = f"{max(delays)}" if delays else "-"
            summary[f"{scenario}.{stream}"] = {
                "detected": len(delays),
                "median_delay": statistics.median(delays) if delays else None,
                "false_alarms": false_alarms,
            }
            print(f"| {scenario} | {stream} | {detected} | {median} | {worst} | {false_alarms} |")
    print(
        f"text statistics cost: {statistics.fmean(costs):.0f} µs wall per text "
        "(mean over runs; language id, trigram profile, JS, lengths)"
    )
    harness.emit("eval_text_drift", {"streams": summary, "us_per_text": statistics.fmean(costs)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
