"""``guardian`` command line: run, check-config, schema, publish-demo."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Literal

from pydantic import ValidationError


def _configure_logging(level: str, fmt: Literal["text", "json"] = "text") -> None:
    from service.logs import configure_logging

    configure_logging(level, fmt)


def _load_settings(config: Path | None):  # type: ignore[no-untyped-def]
    from service.settings import GuardianSettings, describe_validation_error

    try:
        return GuardianSettings.load(config)
    except ValidationError as exc:
        print(f"guardian: {describe_validation_error(exc)}", file=sys.stderr)  # noqa: T201
    except (FileNotFoundError, ValueError) as exc:
        print(f"guardian: {exc}", file=sys.stderr)  # noqa: T201
    return None


def cmd_run(args: argparse.Namespace) -> int:
    from service.composition import serve
    from service.errors import ConfigError

    settings = _load_settings(args.config)
    if settings is None:
        return 2
    _configure_logging(settings.log_level, settings.log.format)
    try:
        return asyncio.run(serve(settings))
    except ConfigError as exc:
        print(f"guardian: {exc}", file=sys.stderr)  # noqa: T201
        return 2


def cmd_check_config(args: argparse.Namespace) -> int:
    from service.composition import check_config
    from service.errors import ConfigError

    settings = _load_settings(args.file)
    if settings is None:
        return 2
    try:
        report = check_config(settings)
    except ConfigError as exc:
        print(f"guardian: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(report)  # noqa: T201
    return 0


def cmd_schema(_args: argparse.Namespace) -> int:
    from service.schema import schema_text

    print(schema_text())  # noqa: T201
    return 0


def cmd_publish_demo(args: argparse.Namespace) -> int:
    from service.demo.publisher import PublishOptions, publish
    from service.demo.stream import DemoConfig

    options = PublishOptions(
        bootstrap_servers=args.bootstrap_servers,
        events_topic=args.events_topic,
        labels_topic=args.labels_topic,
        rate=args.rate,
        count=args.count,
        label_delay_s=args.label_delay,
        progress=not args.quiet,
    )
    from datetime import UTC, datetime

    config = DemoConfig(
        start=datetime.now(UTC),
        seed=args.seed,
        models=tuple(args.models.split(",")),
        pii_fraction=args.pii_fraction,
        drift_at=args.drift_at,
        drift_sigma=args.drift_sigma,
        bias_at=args.bias_at,
        bias_ratio=args.bias_ratio,
        malformed_fraction=args.malformed_fraction,
        label_fraction=args.label_fraction,
    )

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await publish(options, config, stop)

    sent = asyncio.run(main())
    print(f"published {sent} events to {args.events_topic}", file=sys.stderr)  # noqa: T201
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guardian", description="Inference Guardian")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the service (pipeline + control plane)")
    run.add_argument(
        "--config", type=Path, default=None, help="YAML config (default config/guardian.yaml)"
    )
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate a config file and its policies")
    check.add_argument("file", type=Path)
    check.set_defaults(func=cmd_check_config)

    schema = sub.add_parser("schema", help="print the JSON Schema of events and labels")
    schema.set_defaults(func=cmd_schema)

    demo = sub.add_parser("publish-demo", help="publish a synthetic inference stream")
    demo.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("GUARDIAN_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    )
    demo.add_argument("--events-topic", default="inference.events")
    demo.add_argument("--labels-topic", default="inference.labels")
    demo.add_argument("--rate", type=float, default=200.0, help="events/s, 0 = unthrottled")
    demo.add_argument("--count", type=int, default=0, help="events to send, 0 = until Ctrl-C")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--models", default="credit-risk,support-chat,fraud-detect")
    demo.add_argument("--pii-fraction", type=float, default=0.3)
    demo.add_argument("--drift-at", type=int, default=None, help="event index where drift starts")
    demo.add_argument("--drift-sigma", type=float, default=2.0)
    demo.add_argument("--bias-at", type=int, default=None, help="event index where bias starts")
    demo.add_argument("--bias-ratio", type=float, default=0.6)
    demo.add_argument("--malformed-fraction", type=float, default=0.0)
    demo.add_argument("--label-fraction", type=float, default=1.0)
    demo.add_argument("--label-delay", type=float, default=5.0, help="seconds before labels")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_publish_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
