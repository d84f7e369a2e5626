"""People's names written in lowercase, which the NER model does not see.

spaCy's small English model relies on capitalisation: "olivia kowalski" in a chat
prompt is no entity to it, and plain Presidio over the same model misses it too.
A lowercase run of a known first name followed by a known surname (the US census
name lists shipped by the ``names`` package, MIT) is taken as a PERSON.

Both words must be on their list and neither may be an everyday English word that
is also a common name ("will", "mark", "grace", "long", "park"...), so "may day" or
"will park" stay text. Capitalised names are the model's job and are not looked at
here. The lists load once per worker process (~0.1 s, ~10 MB).

Examples
--------
>>> names = LowercaseNames.load()
>>> text = "can you check whether olivia kowalski signed? will park later"
>>> [text[s:e] for s, e in names.find(text)]
['olivia kowalski']
"""

from __future__ import annotations

from importlib import resources

import regex

#: Words on the name lists that are far more often ordinary words in prompts.
_EVERYDAY = frozenset(
    """and app are art august april autumn amber angel angle best bill bob brain bud buck
    can candy carol carry chance chase cherry china chip cliff close coral crystal
    dale dawn day dean desire destiny diamond don dot drew dusty earnest easter echo else
    era eve fairy faith fawn fern forest frank gene ginger glen glory golden good
    grace guy hall harmony heath hill honey hope holly hunter ivory ivy jack jade
    jay joy june king lady lane lean liberty lily little long love major man manual
    many maple marine mark marry marvel max may mercy merry meta miles ming miss misty
    moon more new noble numbers olive opal page park pat patience pearl penny
    precious price prince princess queen rich robin rocky rod rose royal ruby rusty
    sage sandy season see son song soon sparkle spring star sterling stone summer
    sun sunday sunny sunshine sue the tiny trinity velvet viva wade ward way will
    well windy winter wood young""".split()
)

#: Lowercase word pairs, letters with an inner apostrophe or hyphen ("o'brien").
_PAIR = regex.compile(
    r"(?<![\p{L}\p{M}'’\-])(\p{Ll}[\p{Ll}\p{M}]+(?:['’\-]\p{Ll}[\p{Ll}\p{M}]*)?)"
    r"[ \t]+(?=(\p{Ll}[\p{Ll}\p{M}]*(?:['’\-]\p{Ll}[\p{Ll}\p{M}]*)?)(?![\p{L}\p{M}]))"
)

#: Census surnames past this rank are rare enough to be mostly noise as words.
_MAX_SURNAME_RANK = 40_000


def _column(name: str, limit: int | None = None) -> frozenset[str]:
    text = resources.files("names").joinpath(name).read_text(encoding="ascii")
    words = (line.split(maxsplit=1)[0].lower() for line in text.splitlines() if line.strip())
    chosen = list(words)[:limit] if limit else list(words)
    return frozenset(w for w in chosen if w not in _EVERYDAY)


class LowercaseNames:
    """Find "first last" in lowercase text from the census name lists."""

    def __init__(self, first: frozenset[str], last: frozenset[str]) -> None:
        self._first = first
        self._last = last

    @classmethod
    def load(cls) -> LowercaseNames:
        first = _column("dist.female.first") | _column("dist.male.first")
        return cls(first, _column("dist.all.last", _MAX_SURNAME_RANK))

    def find(self, text: str) -> list[tuple[int, int]]:
        """Spans of lowercase first-name + surname pairs, in order."""
        spans: list[tuple[int, int]] = []
        for m in _PAIR.finditer(text):
            first, last = m.group(1), m.group(2)
            if len(first) < 3 or len(last) < 3:
                continue
            if first in self._first and self._is_surname(last):
                spans.append((m.start(1), m.end() + len(last)))
        return spans

    def _is_surname(self, word: str) -> bool:
        """On the list as written, without apostrophes, or by its first double-barrel part."""
        return _plain(word) in self._last or word.split("-", 1)[0] in self._last


def _plain(word: str) -> str:
    """Census lists spell "o'brien" as "obrien"."""
    return word.replace("'", "").replace("’", "").replace("-", "")
