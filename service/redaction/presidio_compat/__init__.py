"""Every use of presidio-analyzer's private internals, behind one version check.

:mod:`.fast_find` (``AnalyzerEngine.analyze`` replayed with its private
helpers), :mod:`.pattern_loop` (a copy of ``PatternRecognizer``'s private
pattern loop) and :mod:`.context_replay` (the lemma context enhancer replayed
from the tokenizer's arrays) are written against one version of Presidio,
:data:`VERIFIED_PRESIDIO`. :func:`use_fast_path` decides at start whether they
run (``redaction.fast_path``): with any other installed version, or with
``off``, Guardian uses Presidio's public ``AnalyzerEngine.analyze`` instead,
slower but correct. Importing this package is cheap; the modules import Presidio.

Examples
--------
>>> use_fast_path("off", installed=VERIFIED_PRESIDIO)
False
>>> use_fast_path("auto", installed="9.9.9")
False
"""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Literal

logger = logging.getLogger(__name__)

#: The presidio-analyzer release the fast path copies and calls into (pinned in
#: pyproject.toml; the differential tests compare both paths against it).
VERIFIED_PRESIDIO = "2.2.366"

FastPathMode = Literal["auto", "on", "off"]

#: (mode, installed version) pairs already logged in this process: a decision is logged once.
_LOGGED: set[tuple[str, str | None]] = set()


class PresidioVersionMismatch(RuntimeError):
    """``redaction.fast_path: on`` with a presidio-analyzer other than the verified one."""


def installed_presidio() -> str | None:
    """The installed presidio-analyzer version (``None`` if it is not installed)."""
    try:
        return metadata.version("presidio-analyzer")
    except metadata.PackageNotFoundError:
        return None


def use_fast_path(mode: FastPathMode, installed: str | None = None) -> bool:
    """Whether analysis takes the fast path under ``redaction.fast_path = mode``.

    ``auto`` takes it when ``installed`` (default: the installed version) is
    :data:`VERIFIED_PRESIDIO`; ``off`` never does; ``on`` insists and raises
    :class:`PresidioVersionMismatch` for any other version. A fallback is logged
    once per process.
    """
    version = installed_presidio() if installed is None else installed
    verified = version == VERIFIED_PRESIDIO
    if mode == "on" and not verified:
        raise PresidioVersionMismatch(
            f"redaction.fast_path is 'on' but presidio-analyzer {version} is installed; the "
            f"fast path is verified against {VERIFIED_PRESIDIO} only. Install that version or "
            "set redaction.fast_path to 'auto' (or 'off') to use Presidio's public API"
        )
    fast = mode != "off" and verified
    if not fast and (mode, version) not in _LOGGED:
        _LOGGED.add((mode, version))
        if mode == "off":
            logger.info("redaction.fast_path is off: analysis uses Presidio's public API")
        else:
            logger.warning(
                "presidio-analyzer %s is not the verified %s: analysis uses Presidio's public "
                "API (slower, same findings); pin %s to get the fast path back",
                version,
                VERIFIED_PRESIDIO,
                VERIFIED_PRESIDIO,
            )
    return fast
