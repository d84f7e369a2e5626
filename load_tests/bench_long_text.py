"""Analysis cost against text length with many findings: linear, not quadratic.

    python -m load_tests.bench_long_text [--sizes 1000 10000 100000] [--presidio]

For each kind of text (phones next to context words, phones and SSNs with no
context word at all, mixed PII, digit-heavy metadata, full-width e-mails, base64
tokens) at each size, prints the CPU time of
``GuardianAnalyzer.detect`` (what the workers run; ``find`` on a build without
it), the number of findings and the ratio to the previous size: 10x the text
should cost ~10x (linear), not ~100x (quadratic). ``--presidio`` adds plain
Presidio's ``analyze`` (slow at 100 kB: its context step is quadratic).
Minimum of ``--repeats`` runs each, in one process, after a warm-up.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import time
from collections.abc import Callable

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

from service.redaction.engine import build_engine
from service.redaction.policy import RedactionPolicy


def _phones(rng: random.Random) -> str:
    return f"call me at ({rng.choice([212, 415, 617])}) 555-01{rng.randint(10, 99)}, "


def _bare_numbers(rng: random.Random) -> str:
    """Findings whose recognizers have context words, none of which is in the text."""
    return rng.choice(
        [f"212 555 01{rng.randint(10, 99)} , ", f"078-05-{rng.randint(1000, 9999)} - "]
    )


def _mixed(rng: random.Random) -> str:
    return rng.choice(
        [
            f"mail u{rng.randint(1, 999)}@example.com; ",
            "card 4111 1111 1111 1111; ",
            f"ssn 078-05-{rng.randint(1000, 9999)}; ",
            f"ip 10.1.{rng.randint(0, 255)}.{rng.randint(1, 254)}; ",
            "iban DE89370400440532013000; ",
            f"phone +1 212 555 01{rng.randint(10, 99)}; ",
            "the of a , - ",
        ]
    )


def _metadata(rng: random.Random) -> str:
    span, stamp = rng.randint(1, 10**6), rng.randint(100000, 999999)
    return f"span={span} ts=1700{stamp} v1.{rng.randint(0, 9)}; "


def _full_width(rng: random.Random) -> str:
    user = "".join(chr(0xFF41 + rng.randrange(26)) for _ in range(6))
    return f"ｍａｉｌ {user}＠ｅｘａｍｐｌｅ．ｃｏｍ、 "


def _base64(rng: random.Random) -> str:
    sentence = f"reach me at user{rng.randint(1, 999)}@example.org"
    return base64.b64encode(sentence.encode()).decode() + " "


KINDS: dict[str, Callable[[random.Random], str]] = {
    "phones + context": _phones,
    "no context words": _bare_numbers,
    "mixed PII": _mixed,
    "digit metadata": _metadata,
    "full-width e-mails": _full_width,
    "base64 tokens": _base64,
}


def text_of(kind: str, size: int, seed: int = 7) -> str:
    rng = random.Random(f"{kind}:{seed}")
    parts: list[str] = []
    total = 0
    while total < size:
        part = KINDS[kind](rng)
        parts.append(part)
        total += len(part)
    return "".join(parts)[:size]


def _cpu(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    best = float("inf")
    out: object = None
    for _ in range(repeats):
        started = time.process_time()
        out = run()
        best = min(best, time.process_time() - started)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presidio", action="store_true", help="also time plain Presidio")
    args = parser.parse_args()
    policy = RedactionPolicy.from_yaml("config/redaction.yaml")
    engine = build_engine(policy)
    entities = policy.entities_for(policy.scan[0])
    analyze = getattr(engine, "detect", engine.find)
    analyze(text_of("mixed PII", 2_000), entities)  # warm-up: compile, load metadata
    print(f"{analyze.__name__}, CPU seconds (min of {args.repeats}), config/redaction.yaml")
    header = f"{'text':20} {'chars':>8} {'findings':>9} {'guardian s':>11} {'x prev':>7}"
    if args.presidio:
        header += f" {'presidio s':>11} {'x prev':>7}"
    print(header)
    for kind in KINDS:
        previous: dict[str, float] = {}
        for size in args.sizes:
            text = text_of(kind, size)
            seconds, found = _cpu(lambda t=text: analyze(t, entities), args.repeats)
            row = f"{kind:20} {size:8d} {len(found):9d} {seconds:11.4f}"  # type: ignore[arg-type]
            row += f" {seconds / previous['g']:7.1f}" if "g" in previous else f" {'':7}"
            previous["g"] = seconds
            if args.presidio:
                p_seconds, _ = _cpu(
                    lambda t=text: engine.presidio_analyze(t, entities), max(1, args.repeats - 2)
                )
                row += f" {p_seconds:11.4f}"
                row += f" {p_seconds / previous['p']:7.1f}" if "p" in previous else f" {'':7}"
                previous["p"] = p_seconds
            print(row, flush=True)


if __name__ == "__main__":
    main()
