"""An analysable copy of a text in plain forms, with a map back to the original offsets.

PII written in other Unicode forms slips past recognizers built for ASCII:
full-width ``ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ``, Arabic-Indic or Devanagari digits, a
zero-width space or soft hyphen inside an e-mail, Cyrillic look-alike letters,
``%40`` for ``@``. :func:`plain_view` builds one copy of the text in which

* format characters (Unicode category Cf: zero-width space and joiners, soft
  hyphen, word joiner, BOM, bidi controls, tags), variation selectors, the
  combining grapheme joiner, Hangul fillers and ASCII control characters are
  removed, and combining marks after an ASCII character (strike-through,
  underline) too;
* every other character is NFKC-normalised, decimal digits of any script become
  ASCII digits, dashes become ``-``, spaces become `` ``, ideographic full stops
  ``.``, and common Cyrillic and Greek look-alikes their Latin letter;
* runs of ``%XX`` escapes that decode to UTF-8 are decoded (one level), and
  double-encoded ``%25XX`` runs too;
* character escapes written into text are decoded: HTML entities (``&#64;``,
  ``&#x40;``, ``&commat;``) and JSON or Python escapes (``\\u0040``, ``\\x40``),
  as web forms and doubly encoded JSON logs carry them;
* a ``?`` before an ``@`` in the same word becomes a space: Presidio's e-mail
  check rejects an address whose match starts before a URL's ``?``, so
  ``/unsubscribe?email=jane@example.org`` passes it even unencoded.

Each character of the copy remembers the span of original characters it came
from (:class:`TextView`, built once per text), so a finding in the copy maps to
the original characters to replace, including any invisible ones inside it.
Plain ASCII text without ``%XX``, ``?…@`` and control characters costs one
``isascii`` call and one regex scan: the copy is built only when it would differ.
"""

from __future__ import annotations

import html
import re
import unicodedata
from array import array
from dataclasses import dataclass

#: Code points that render as nothing but are not in category Cf (Cf is removed too).
_INVISIBLE = frozenset(
    [
        "\u034f",  # combining grapheme joiner
        "\u115f",
        "\u1160",
        "\u3164",
        "\uffa0",  # Hangul fillers
        "\u17b4",
        "\u17b5",  # Khmer inherent vowels
        "\u180b",
        "\u180c",
        "\u180d",
        "\u180f",  # Mongolian variation selectors
        "\u2800",  # braille blank
        *(chr(c) for c in range(0xFE00, 0xFE10)),  # variation selectors
        *(chr(c) for c in range(0xE0100, 0xE01F0)),  # variation selectors supplement
    ]
)

#: Cyrillic and Greek letters drawn like a Latin letter (the common confusables).
_LOOKALIKES = dict(
    zip(
        "аеорсухіјѕԁԛԝһӏɡАВЕКМНОРСТХІЈЅԜҮοαινκρτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
        "aeopcyxijsdqwhlgABEKMHOPCTXIJSWYoaivkptuxABEZHIKMNOPTYX",
        strict=True,
    )
)

# What is not copied as it is: non-ASCII characters, ASCII controls other than
# whitespace, runs of %-escapes (double-encoded first), character escapes.
_ESCAPE = (
    r"&#[0-9]{1,7};|&#[xX][0-9a-fA-F]{1,6};|&[a-zA-Z]{2,10};|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}"
)
_SPECIAL = re.compile(
    r"[^\x00-\x7f]+|[\x00-\x08\x0e-\x1f\x7f]+|(?:%25[0-9A-Fa-f]{2})+|(?:%[0-9A-Fa-f]{2})+|"
    + _ESCAPE
    + r"|\?(?=[^\s?]*(?:@|%40))"
)
_ASCII_TRIGGER = re.compile(
    r"[\x00-\x08\x0e-\x1f\x7f]|%[0-9A-Fa-f]{2}|" + _ESCAPE + r"|\?(?=[^\s?]*(?:@|%40))"
)
#: Decoded escapes that can be part of PII; others (``&amp;``, ``&lt;``) change nothing.
_ESCAPE_MATTERS = frozenset("@.+-_()/:#")
_MARKS = frozenset(("Mn", "Me"))
_FORMS: dict[str, str] = {}
_FORMS_MAX = 100_000


@dataclass(frozen=True)
class TextView:
    """The analysed copy and, per character of it, the original span it came from.

    Examples
    --------
    >>> view = plain_view("mail jo\\u200bhn＠example.com")
    >>> view.text
    'mail john@example.com'
    >>> view.original_span(5, 21)
    (5, 22)
    """

    text: str
    starts: array[int]
    ends: array[int]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original characters behind ``text[start:end]`` (``end > start``)."""
        return self.starts[start], self.ends[max(start, end - 1)]


def _form(ch: str) -> str:
    """What one non-ASCII character becomes in the copy (``""``: removed)."""
    found = _FORMS.get(ch)
    if found is None:
        if ch in _INVISIBLE or unicodedata.category(ch) == "Cf":
            found = ""
        else:
            found = "".join(_fold(c) for c in unicodedata.normalize("NFKC", ch))
        if len(_FORMS) >= _FORMS_MAX:
            _FORMS.clear()
        _FORMS[ch] = found
    return found


def _fold(ch: str) -> str:
    if ch.isascii():
        return ch
    if ch in _INVISIBLE or unicodedata.category(ch) == "Cf":
        return ""
    digit = unicodedata.decimal(ch, None)
    if digit is not None:
        return str(digit)
    latin = _LOOKALIKES.get(ch)
    if latin is not None:
        return latin
    category = unicodedata.category(ch)
    if category == "Pd" or ch == "\u2212":
        return "-"
    if category == "Zs":
        return " "
    if category in ("Zl", "Zp"):
        return "\n"
    if ch == "\u3002":  # ideographic full stop (NFKC maps the half-width one onto it)
        return "."
    return ch


def plain_view(text: str, percent: bool = True) -> TextView | None:
    """The copy of ``text`` to analyse next to it, or ``None`` when it would be the same.

    ``percent=False`` leaves ``%XX`` escapes as they are (for text already decoded once).
    """
    if text.isascii() and _ASCII_TRIGGER.search(text) is None:
        return None
    view = _ViewBuilder(text, percent)
    cursor = 0
    for match in _SPECIAL.finditer(text):
        first, last = match.span()
        if first > cursor:
            view.copy(cursor, first)
            view.after_ascii = True
        view.run(match.group(), first, last)
        cursor = last
    if not view.changed:
        return None
    if cursor < len(text):
        view.copy(cursor, len(text))
    return TextView("".join(view.parts), view.starts, view.ends)


class _ViewBuilder:
    """The copy being built: its pieces, their original spans, and whether it differs."""

    def __init__(self, text: str, percent: bool) -> None:
        self.text = text
        self.percent = percent
        self.parts: list[str] = []
        self.starts: array[int] = array("q")
        self.ends: array[int] = array("q")
        self.changed = False
        self.after_ascii = False  # the last character copied is ASCII (combining marks on it go)

    def copy(self, first: int, last: int) -> None:
        """Original characters ``first:last``, unchanged."""
        self.parts.append(self.text[first:last])
        self.starts.extend(range(first, last))
        self.ends.extend(range(first + 1, last + 1))

    def emit(self, piece: str, start: int, end: int) -> None:
        """``piece``, every character of it from the original span ``start:end``."""
        self.parts.append(piece)
        self.starts.extend([start] * len(piece))
        self.ends.extend([end] * len(piece))

    def run(self, run: str, first: int, last: int) -> None:
        """One match of ``_SPECIAL`` at ``first:last``."""
        if run == "?":  # a URL query holding an e-mail
            self.emit(" ", first, last)
            self.changed = True
            self.after_ascii = True
        elif run[0] in "&\\" or run.startswith("%25"):
            self._escape(run, first, last)
        elif run[0] == "%":
            self._percent(run, first, last)
        elif run.isascii():  # control characters
            self.changed = True
        else:
            self._unicode(run, first)

    def _escape(self, run: str, first: int, last: int) -> None:
        decoded = _unescaped(run) if self.percent else None
        if decoded is None:
            self.copy(first, last)
        else:
            if any(c.isalnum() or c in _ESCAPE_MATTERS for c in decoded):
                self.changed = True
            self.emit(decoded, first, last)
        self.after_ascii = True

    def _percent(self, run: str, first: int, last: int) -> None:
        decoded = _percent_decoded(run) if self.percent else None
        if decoded is None:
            self.copy(first, last)
            self.after_ascii = True
            return
        self.changed = True
        offset = first
        for ch in decoded:
            width = 3 * len(ch.encode("utf-8"))
            shown = ch if ch.isascii() else _form(ch)
            if shown:
                self.emit(shown, offset, offset + width)
                self.after_ascii = shown[-1].isascii()
            offset += width

    def _unicode(self, run: str, first: int) -> None:
        for i, ch in enumerate(run, start=first):
            if self.after_ascii and unicodedata.category(ch) in _MARKS:
                self.changed = True
                continue
            shown = _form(ch)
            if shown != ch and not self.changed:
                self.changed = _matters(shown, self.text, i)
            if shown:
                self.emit(shown, i, i + 1)
                self.after_ascii = shown[-1].isascii()


_SPACING = frozenset("- \n")
_PUNCTUATION = frozenset("!\"#$%&'()*,./:;<=>?[\\]^_`{|}~")


def _as_read(ch: str) -> str:
    """The first character ``ch`` becomes in the copy (``""`` if it goes)."""
    return ch if ch.isascii() else _form(ch)[:1]


def _matters(shown: str, text: str, i: int) -> bool:
    """Whether ``text[i]`` becoming ``shown`` can change what a recognizer finds.

    Prose is full of changes no recognizer can see: an em dash or no-break space
    between words, an ellipsis, CJK punctuation between ideographs, the joiners and
    variation selectors of emoji, Cyrillic words. Only when the text holds a change
    that can (a letter or digit, ``@``, ``+``; a look-alike letter or punctuation
    next to an ASCII letter or digit; a dash or space next to a digit; an invisible
    character next to ASCII) is the copy analysed; it then holds every change.
    """
    neighbours = [_as_read(text[j]) for j in (i - 1, i + 1) if 0 <= j < len(text)]
    if text[i] in _LOOKALIKES:  # only a Cyrillic or Greek letter inside a Latin word
        return any(n.isascii() and (n.isalnum() or n in "@.") for n in neighbours if n)
    if not shown:
        return any(n.isascii() and n.isprintable() and n != " " for n in neighbours if n)
    if all(c in _SPACING for c in shown):
        return any(n.isascii() and n.isdigit() for n in neighbours if n)
    if all(c in _PUNCTUATION or c in _SPACING for c in shown):
        return any(n.isascii() and n.isalnum() for n in neighbours if n)
    return True


def _percent_decoded(run: str) -> str | None:
    """``%XX%YY…`` as UTF-8 text, or ``None`` when the bytes are not UTF-8."""
    try:
        return bytes.fromhex(run.replace("%", "")).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _unescaped(run: str) -> str | None:
    """An HTML entity, a ``\\u``/``\\x`` escape or a ``%25XX`` run as the ASCII it stands
    for, or ``None`` (not an escape of a printable ASCII character: kept as written)."""
    if run.startswith("%25"):
        decoded = _percent_decoded(run.replace("%25", "%"))
    elif run[0] == "&":
        decoded = html.unescape(run)
        decoded = None if decoded == run else decoded
    else:
        decoded = chr(int(run[2:], 16))
    if decoded is None or not decoded.isascii() or not decoded.isprintable():
        return None
    return decoded
