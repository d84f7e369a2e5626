"""Settings of the retention stage, mounted by the lead as ``GuardianSettings.retention``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

from service.retention.durations import parse_duration
from service.retention.policy import RetentionPolicy


class RetentionSettings(BaseModel):
    """Where the policy lives, how its topics are named, how strict loading is.

    Parameters
    ----------
    policy_file
        YAML retention policy (see ``docs/retention.md``).
    topic_prefix
        Sanitized events of class ``c`` go to ``<topic_prefix><c>``.
    strict_unreachable
        Refuse a policy with rules that can never match, instead of warning.
    max_duration
        Longest duration a class may have without an override (``"400d"``;
        ``null``: no bound). Classes marked ``legal_hold: true`` are exempt.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_file: Path = Path("config/retention.yaml")
    topic_prefix: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9._-]*$", max_length=120)
    ] = "inference.sanitized."
    strict_unreachable: bool = False
    max_duration: Annotated[timedelta | None, BeforeValidator(parse_duration)] = timedelta(days=400)

    def load_policy(self) -> RetentionPolicy:
        """Read and validate ``policy_file`` with this strictness."""
        return RetentionPolicy.from_file(
            self.policy_file, strict_unreachable=self.strict_unreachable
        )
