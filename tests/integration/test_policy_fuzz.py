"""Fuzzed policy documents never crash start-up, ``check-config``, the API or the redactor.

Invalid → one clear line (start-up, ``check-config``) or :class:`ConfigInvalid`
(control plane, ``guardian.config``); valid → the redactor starts and redacts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from service.cli import cmd_check_config
from service.control.policies import ConfigInvalid, LivePolicies
from service.redaction.redactor import Redactor
from service.settings import GuardianSettings
from tests.kafka_helpers import ROOT
from tests.strategies_policies import redaction_documents, retention_documents

HMAC = {"hmac_keys": {"k1": "fuzz-key-0123456789"}, "active_hmac_key": "k1"}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SHIPPED_RETENTION = (ROOT / "config/retention.yaml").read_text()
SHIPPED_REDACTION = (ROOT / "config/redaction.yaml").read_text()


def check_config(redaction: str, retention: str, hmac: bool) -> tuple[int, str, str]:
    """``guardian check-config`` in this process: exit code, stdout, stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "redaction.yaml").write_text(redaction)
        (root / "retention.yaml").write_text(retention)
        config: dict[str, Any] = {
            "redaction": {"policy_file": str(root / "redaction.yaml"), **(HMAC if hmac else {})},
            "retention": {"policy_file": str(root / "retention.yaml")},
        }
        (root / "guardian.yaml").write_text(yaml.safe_dump(config))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cmd_check_config(argparse.Namespace(file=root / "guardian.yaml"))
        return code, out.getvalue(), err.getvalue()


def assert_clear(code: int, out: str, err: str) -> None:
    assert code in (0, 2), (code, err)
    event("accepted" if code == 0 else "refused")
    if code == 0:
        assert out.startswith("config OK"), out
    else:
        lines = [line for line in err.splitlines() if not line.startswith("checkpoints disabled")]
        assert len(lines) == 1 and lines[0].startswith("guardian: "), err


def policies(settings: GuardianSettings) -> LivePolicies:
    """How the control plane validates policies in a process with these settings (no NER)."""
    redactor = SimpleNamespace(ner_model=None)
    return LivePolicies(
        redactor,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        settings.redaction,
        settings.retention,
        settings.kafka.topics.sanitized_prefix,
    )


def as_yaml(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True)


@FUZZ
@given(document=redaction_documents(), hmac=st.booleans())
def test_fuzzed_redaction_policies_never_crash_start_up_or_check_config(
    document: Any, hmac: bool
) -> None:
    assert_clear(*check_config(as_yaml(document), SHIPPED_RETENTION, hmac))
    holder = policies(GuardianSettings.load(None, redaction=HMAC if hmac else {}))
    with contextlib.suppress(ConfigInvalid):
        holder.parse_redaction(document if isinstance(document, dict) else {"x": document})


@FUZZ
@given(document=retention_documents())
def test_fuzzed_retention_policies_never_crash_start_up_or_check_config(document: Any) -> None:
    assert_clear(*check_config(SHIPPED_REDACTION, as_yaml(document), hmac=False))
    holder = policies(GuardianSettings.load(None))
    with contextlib.suppress(ConfigInvalid):
        holder.parse_retention(document if isinstance(document, dict) else {"x": document})


SAMPLE = {
    "inputs": {"text": "mail jane@example.com, badge EMP-123456, call +1 212 555 0199"},
    "outputs": {"text": "ok"},
    "metadata": {"note": "card 4111 1111 1111 1111", "user": "u1"},
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=redaction_documents())
def test_valid_fuzzed_redaction_policies_run(document: Any) -> None:
    """Whatever start-up accepts, the redactor starts with and redacts without failing."""
    settings_ = GuardianSettings.load(None, redaction=HMAC)
    try:
        policy = policies(settings_).parse_redaction(document if isinstance(document, dict) else {})
    except ConfigInvalid:
        event("invalid")
        return
    event("runs")

    async def run() -> None:
        redactor = Redactor(policy, settings_.redaction.model_copy(update={"workers": 0}))
        await redactor.start()
        try:
            [out] = await redactor.redact_batch([SAMPLE])
        finally:
            await redactor.close()
        assert not out.failed, out.reason

    asyncio.run(run())
