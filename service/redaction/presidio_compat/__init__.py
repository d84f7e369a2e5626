"""Every use of presidio-analyzer's private internals, in one place.

:mod:`.fast_find` (``AnalyzerEngine.analyze`` replayed with its private
helpers), :mod:`.pattern_loop` (a copy of ``PatternRecognizer``'s private
pattern loop) and :mod:`.context_replay` (the lemma context enhancer replayed
from the tokenizer's arrays) are written against one version of Presidio.
Importing this package is cheap; the modules import Presidio.
"""

from __future__ import annotations
