"""Settings of the alerting outputs, mounted as ``GuardianSettings.alerting``.

Environment: ``GUARDIAN_ALERTING__ALERTMANAGER_URL``,
``GUARDIAN_ALERTING__WEBHOOK_URL``, ``GUARDIAN_ALERTING__WEBHOOK_TOKEN``,
``GUARDIAN_ALERTING__RUNBOOK_BASE_URL``, ...
The webhook token is a ``SecretStr``: masked in every dump and log.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr

from service.alerting.rules import DEFAULT_RULES_FILE


class AlertingSettings(BaseModel):
    """Where alerts go and how hard Guardian tries to deliver them.

    Examples
    --------
    >>> s = AlertingSettings(webhook_token="t0ken")
    >>> s.alertmanager_url is None, "t0ken" in repr(s)
    (True, False)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules_file: Path = DEFAULT_RULES_FILE
    alertmanager_url: AnyHttpUrl | None = None
    webhook_url: AnyHttpUrl | None = None
    webhook_token: SecretStr | None = None
    #: Link back to Guardian put in each Alertmanager alert (``generatorURL``).
    generator_url: AnyHttpUrl | None = None
    #: Where docs/runbooks is published; alerts link ``<it>/<alertname>.md``. Unset: the
    #: page's path in Guardian's repository (``docs/runbooks/<alertname>.md``).
    runbook_base_url: AnyHttpUrl | None = None
    #: Copy silences made through Guardian's API to Alertmanager (``/api/v2/silences``),
    #: so they also mute the Prometheus rules' alerts; deleted there when deleted here.
    mirror_silences: bool = True
    retries: int = Field(default=3, ge=0, le=10, description="retries after the first attempt")
    backoff_seconds: float = Field(default=0.5, gt=0, le=60, description="first retry delay")
    backoff_max_seconds: float = Field(default=10.0, gt=0, le=600)
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    #: Alertmanager forgets a firing alert whose ``endsAt`` passes: resend before that.
    resend_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    tick_interval_seconds: float = Field(default=1.0, gt=0, le=60)
