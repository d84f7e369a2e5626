"""Settings of the retention stage, mounted as ``GuardianSettings.retention``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from service.retention.policy import RetentionPolicy, parse_duration


class RetentionSettings(BaseModel):
    """Where the policy lives and how strict loading is.

    Sanitized topics are named by ``kafka.topics.sanitized_prefix``.

    Parameters
    ----------
    policy_file
        YAML retention policy (see ``docs/retention.md``).
    strict_unreachable
        Refuse a policy with rules that can never match, instead of warning.
    max_duration
        Longest duration a class may have without an override (``"400d"``;
        ``null``: no bound). Classes marked ``legal_hold: true`` are exempt.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_file: Path = Path("config/retention.yaml")
    strict_unreachable: bool = False
    max_duration: Annotated[timedelta | None, BeforeValidator(parse_duration)] = timedelta(days=400)

    def load_policy(self) -> RetentionPolicy:
        """Read and validate ``policy_file`` with this strictness."""
        return RetentionPolicy.from_file(
            self.policy_file, strict_unreachable=self.strict_unreachable
        )
