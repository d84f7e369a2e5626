"""Guardian's redaction against a plain Presidio analyze + anonymize loop, same recognizers.

    python -m load_tests.bench_redaction [--n 2000] [--repeats 3] [--workers 2] [--quick]
                                         [--fast-path auto|on|off]

Prints texts/s of both (medians of the repeats, measured in the same run), the
ratio, the cache hit rate, and the number of findings that differ between the
two (span for span; target 0). Guardian starts each repeat with an empty cache.

Both sides are warmed the same way before each repeat is timed: plain Presidio's
analyzer and Guardian's worker processes (fresh in every repeat) first process
``--warmup`` texts of the corpus drawn with another seed, never the timed texts
(texts that also occur in the timed corpus are left out), so neither side is
timed while it fills its caches (libphonenumber metadata, regex caches, spaCy's
vocabulary) and the comparison is of steady state, as a long-running service
sees it. Guardian's findings cache is emptied after the warm-up. ``--warmup 0``
times both sides cold, as before.

Then the same with NER on (where the pinned spaCy pipeline is installed):
Guardian with ``redaction.spacy_model=auto`` (PERSON and LOCATION on
``inputs.text``) against plain Presidio whose ``SpacyNlpEngine`` runs the same
pipeline (all its components, as Presidio loads it) with the same recognizers
plus ``SpacyRecognizer``; both in the same run, medians of the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

from load_tests.corpus import make_corpus
from service.redaction import RedactionPolicy, RedactionSettings, Redactor
from service.redaction.engine import build_engine

BATCH = 500


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of this process and ``pids`` (Linux /proc), load-independent cost."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = time.process_time()
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def presidio_with_ner(policy: RedactionPolicy, model: str) -> Any:
    """Plain Presidio over the NER pipeline: same recognizers plus ``SpacyRecognizer``."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
    nlp_engine.load()
    registry = RecognizerRegistry()
    for rec in build_engine(policy).analyzer.registry.recognizers:
        registry.add_recognizer(rec)
    registry.add_recognizer(SpacyRecognizer(supported_entities=list(policy.ner_entities)))
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine)


def baseline(
    texts: list[str],
    policy: RedactionPolicy,
    ner_model: str | None = None,
    warmup: tuple[str, ...] = (),
) -> tuple[float, float, list[list[tuple]]]:
    """Plain Presidio: AnalyzerEngine.analyze + AnonymizerEngine.anonymize, one text at a time.

    ``warmup`` texts go through the same loop first, untimed.
    """
    from presidio_anonymizer import AnonymizerEngine

    if ner_model is None:
        analyzer = build_engine(policy).analyzer
        entities = list(policy.entities_for(policy.scan[0]))
    else:
        analyzer = presidio_with_ner(policy, ner_model)
        entities = sorted({*policy.entities_for(policy.scan[0]), *policy.ner_entities})
    anonymizer = AnonymizerEngine()
    for text in warmup:
        results = analyzer.analyze(
            text=text, language="en", entities=entities, score_threshold=policy.score_threshold
        )
        anonymizer.anonymize(text=text, analyzer_results=results)
    findings: list[list[tuple]] = []
    cpu = time.process_time()
    started = time.perf_counter()
    for text in texts:
        results = analyzer.analyze(
            text=text, language="en", entities=entities, score_threshold=policy.score_threshold
        )
        anonymizer.anonymize(text=text, analyzer_results=results)
        findings.append(sorted((r.entity_type, r.start, r.end, r.score) for r in results))
    wall = time.perf_counter() - started
    return len(texts) / wall, (time.process_time() - cpu) / len(texts), findings


async def guardian(
    texts: list[str],
    policy: RedactionPolicy,
    workers: int,
    ner: bool = False,
    fast_path: Any = "auto",
    warmup: tuple[str, ...] = (),
) -> tuple[float, float, float, list[list[tuple]], int]:
    # A generous deadline: the benchmark measures throughput, never failing closed.
    settings = RedactionSettings(
        workers=workers, spacy_model="auto" if ner else None, timeout_s=600, fast_path=fast_path
    )
    redactor = Redactor(policy, settings)
    await redactor.start()
    try:
        # The warm-up texts are redacted in the same batches (every worker gets chunks);
        # then the findings cache is emptied so the timed texts start uncached.
        warm_events = [{"inputs": {"text": t}} for t in warmup]
        for i in range(0, len(warm_events), BATCH):
            await redactor.redact_batch(warm_events[i : i + BATCH])
        redactor._cache.clear()
        redactor._cache.hits = redactor._cache.misses = 0
        events = [{"inputs": {"text": t}} for t in texts]
        pool = getattr(redactor._executor, "_processes", None) or {}
        pids = list(pool)
        cpu = _cpu_seconds(pids)
        started = time.perf_counter()
        outcomes = []
        for i in range(0, len(events), BATCH):
            outcomes += await redactor.redact_batch(events[i : i + BATCH])
        rate = len(texts) / (time.perf_counter() - started)
        cpu_per_text = (_cpu_seconds(pids) - cpu) / len(texts)
        cache = redactor._cache
        hit_rate = cache.hits / max(1, cache.hits + cache.misses)
        failed = sum(o.failed for o in outcomes)
        # Findings through the same worker path, cache emptied, for the differential count.
        redactor._cache.clear()
        entities = policy.entities_for(policy.scan[0])
        if ner:
            entities = tuple(sorted({*entities, *policy.ner_entities}))
        found = await redactor.analyze_texts([(t, entities) for t in texts])
        findings = [f if isinstance(f, list) else [("ERROR", -1, -1, 0.0)] for f in found]
        return rate, cpu_per_text, hit_rate, findings, failed
    finally:
        await redactor.close()


def single_text_speed(texts: list[str], policy: RedactionPolicy, fast_path: Any = "auto") -> float:
    """Prefilters alone: one process, no cache, every text analysed (texts/s)."""
    from service.redaction.presidio_compat import use_fast_path

    engine = build_engine(policy, fast_path=use_fast_path(fast_path))
    entities = policy.entities_for(policy.scan[0])
    analyze = getattr(engine, "detect", engine.find)  # what the workers run
    started = time.perf_counter()
    for text in texts:
        analyze(text, entities)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="texts in the corpus")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="warm-up texts per side and repeat, from seed + 1000 (default: --n; 0: none)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument(
        "--fast-path", choices=("auto", "on", "off"), default="auto", help="redaction.fast_path"
    )
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats = 120, 1
    policy = RedactionPolicy.from_yaml("config/redaction.yaml")
    corpus = make_corpus(args.n, args.seed)
    texts = [item.text for item in corpus]
    warmup = warmup_texts(args.n if args.warmup is None else args.warmup, args.seed, texts)
    print(
        f"corpus: {len(texts)} texts (seed {args.seed}), {len(set(texts))} distinct, "
        f"{sum(1 for c in corpus if c.pii)} with PII, cores {os.cpu_count()}, "
        f"workers {args.workers}, repeats {args.repeats}, fast_path {args.fast_path}; "
        f"warm-up {len(warmup)} texts per side and repeat (seed {args.seed + 1000}, none timed)"
    )
    base_rates, guard_rates, hit_rates = [], [], []
    base_cpu, guard_cpu = [], []
    base_findings: list[list[tuple]] = []
    guard_findings: list[list[tuple]] = []
    failed = 0
    for r in range(args.repeats):
        rate, b_cpu, base_findings = baseline(texts, policy, warmup=warmup)
        base_rates.append(rate)
        base_cpu.append(b_cpu)
        g_rate, g_cpu, hit, guard_findings, failed = asyncio.run(
            guardian(texts, policy, args.workers, fast_path=args.fast_path, warmup=warmup)
        )
        guard_rates.append(g_rate)
        guard_cpu.append(g_cpu)
        hit_rates.append(hit)
        print(f"  repeat {r + 1}: presidio {rate:8.1f} texts/s   guardian {g_rate:8.1f} texts/s")
    prefilter_rate = single_text_speed(texts, policy, args.fast_path)
    differing = sum(
        len(set(a) ^ set(b)) for a, b in zip(base_findings, guard_findings, strict=True)
    )
    texts_differing = sum(a != b for a, b in zip(base_findings, guard_findings, strict=True))
    base, guard = statistics.median(base_rates), statistics.median(guard_rates)
    print(f"plain presidio analyze+anonymize : {base:10.1f} texts/s (median)")
    print(f"guardian redaction               : {guard:10.1f} texts/s (median)")
    print(f"ratio                            : {guard / base:10.2f}x  (target >= 5x)")
    print(
        f"  of which prefilters alone      : {prefilter_rate / base:10.2f}x  (1 process, no cache)"
    )
    b_cpu, g_cpu = statistics.median(base_cpu), statistics.median(guard_cpu)
    print(
        f"CPU per text (all processes)     : presidio {b_cpu * 1e3:.3f} ms, guardian "
        f"{g_cpu * 1e3:.3f} ms -> {b_cpu / g_cpu:.2f}x less CPU; with {args.workers} cores "
        f"free that bounds the ratio at {b_cpu / g_cpu * max(1, args.workers):.2f}x"
    )
    print(f"load average at the end          : {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"  cache hit rate                 : {statistics.median(hit_rates):10.1%}")
    print(f"findings differing               : {differing} in {texts_differing} texts (target 0)")
    print(f"findings total (presidio)        : {sum(len(f) for f in base_findings)}")
    print(f"events failed closed             : {failed}")
    ner_section(texts, policy, args.workers, args.repeats, warmup)


def warmup_texts(n: int, seed: int, timed: list[str]) -> tuple[str, ...]:
    """``n`` corpus texts drawn with ``seed + 1000``, without any of the ``timed`` texts."""
    if n <= 0:
        return ()
    excluded = set(timed)
    return tuple(item.text for item in make_corpus(n, seed + 1000) if item.text not in excluded)


def ner_section(
    texts: list[str],
    policy: RedactionPolicy,
    workers: int,
    repeats: int,
    warmup: tuple[str, ...] = (),
) -> None:
    """NER on: Guardian vs plain Presidio over the same spaCy pipeline (same run, medians)."""
    from service.redaction.ner import resolve_model

    model = resolve_model("auto")
    if model is None:
        print("NER: pinned pipeline not installed; skipped")
        return
    base_rates, guard_rates, base_cpu, guard_cpu = [], [], [], []
    base_findings: list[list[tuple]] = []
    guard_findings: list[list[tuple]] = []
    for r in range(repeats):
        rate, b_cpu, base_findings = baseline(texts, policy, model.name, warmup)
        g_rate, g_cpu, _hit, guard_findings, _failed = asyncio.run(
            guardian(texts, policy, workers, ner=True, warmup=warmup)
        )
        base_rates.append(rate)
        guard_rates.append(g_rate)
        base_cpu.append(b_cpu)
        guard_cpu.append(g_cpu)
        print(f"  NER repeat {r + 1}: presidio {rate:8.1f} texts/s  guardian {g_rate:8.1f} texts/s")
    base, guard = statistics.median(base_rates), statistics.median(guard_rates)
    spans = [
        ({(e, s, t) for e, s, t, _ in a}, {(e, s, t) for e, s, t, _ in b})
        for a, b in zip(base_findings, guard_findings, strict=True)
    ]
    print(f"NER ({model.name}) plain presidio  : {base:10.1f} texts/s (median)")
    print(f"NER guardian redaction           : {guard:10.1f} texts/s (median)")
    print(f"NER ratio                        : {guard / base:10.2f}x  (target >= 3x)")
    b_cpu, g_cpu = statistics.median(base_cpu), statistics.median(guard_cpu)
    print(
        f"NER CPU per text                 : presidio {b_cpu * 1e3:.3f} ms, guardian "
        f"{g_cpu * 1e3:.3f} ms"
    )
    print(
        f"NER findings differing (spans)   : {sum(len(a ^ b) for a, b in spans)} "
        f"in {sum(a != b for a, b in spans)} texts (FAC places are LOCATION in Guardian only)"
    )


if __name__ == "__main__":
    main()
