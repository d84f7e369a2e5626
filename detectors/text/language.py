"""Language identification with py3langid, whose model ships inside its wheel.

Loaded in :meth:`LanguageIdentifier.load` (a few hundred milliseconds), never
at import; nothing is downloaded. Without py3langid installed the identifier
answers ``None`` and the ``language`` statistic is not produced.
"""

from __future__ import annotations

from typing import Any

UNDETERMINED = "und"


class LanguageIdentifier:
    """ISO 639-1 code of a text, or ``und`` for texts too short to tell."""

    def __init__(self, min_chars: int = 20) -> None:
        self.min_chars = min_chars
        self._model: Any = None
        self.available: bool | None = None  # unknown until load()

    def load(self) -> bool:
        if self.available is None:
            try:
                from py3langid.langid import MODEL_FILE
                from py3langid.langid import LanguageIdentifier as _Identifier
            except ImportError:
                self.available = False
            else:
                self._model = _Identifier.from_model_file(MODEL_FILE)
                self.available = True  # set last: another thread may be identifying
        return self.available

    def identify(self, text: str) -> str | None:
        """The code, or ``None`` while the model is not loaded (never loads it here)."""
        if not self.available:
            return None
        if len(text.strip()) < self.min_chars:
            return UNDETERMINED
        code, _ = self._model.classify(text)
        return str(code)
