"""Base64 tokens inside a text, decoded so the PII they carry can be found.

``am9obkBleGFtcGxlLmNvbQ==`` is ``john@example.com``: a recognizer looking at
the text sees neither. :func:`decoded_tokens` finds tokens of at least
:data:`MIN_TOKEN` characters of the standard (``+/``) or URL-safe (``-_``)
alphabet, padded or not, decodes each (one level) and keeps those that decode to
printable UTF-8 text; the bytes of a random key, hash or ciphertext almost never
do (12 random bytes are all printable ASCII with probability ~1e-5), so they cost a
decode and nothing more. :func:`joined` lays the kept texts out as one text to
analyse in a single call, with a map from its offsets back to the tokens: a
finding anywhere in a decoded text redacts the WHOLE encoded token.

At most :data:`MAX_TOKENS` decoded texts are analysed per text (the decode
itself is linear in the text and unbounded).
"""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_right
from dataclasses import dataclass

#: Shortest token tried (16 characters carry 12 bytes).
MIN_TOKEN = 16
#: Decoded texts analysed per text at most (the first ones, in text order).
MAX_TOKENS = 64
#: Between two decoded texts in the joined copy: no finding spans a blank line pair.
_SEPARATOR = "\n\n"

# A run of the alphabets, then padding (which a path separator may follow) or an end.
_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{{{MIN_TOKEN},}}"
    r"(?:={1,2}(?![A-Za-z0-9+_\-=])|(?![A-Za-z0-9+/_\-=]))"
)
_WHITESPACE = str.maketrans("", "", "\t\n\r")


@dataclass(frozen=True)
class EncodedToken:
    """A base64 token of the text (``start``, ``end``) and the text it decodes to."""

    start: int
    end: int
    decoded: str


def _decode(token: str) -> str | None:
    body = token.rstrip("=")
    if len(body) % 4 == 1:
        return None
    url_safe = "-" in body or "_" in body
    if url_safe and ("+" in body or "/" in body):
        return None
    try:
        raw = base64.b64decode(
            body + "=" * (-len(body) % 4), altchars=b"-_" if url_safe else None, validate=True
        )
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    if not text.strip() or not text.translate(_WHITESPACE).isprintable():
        return None
    return text


def decoded_tokens(text: str, limit: int = MAX_TOKENS) -> list[EncodedToken]:
    """Base64 tokens of ``text`` that decode to printable text, the first ``limit``."""
    found: list[EncodedToken] = []
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        decoded = _decode(match.group())
        if decoded is not None:
            found.append(EncodedToken(start, end, decoded))
        elif "/" in match.group():
            # A path with a token as one segment: ".../u/am9obkBleGFtcGxlLmNvbQ/...".
            offset = start
            for piece in match.group().split("/"):
                if len(piece) >= MIN_TOKEN and (decoded := _decode(piece)) is not None:
                    found.append(EncodedToken(offset, offset + len(piece), decoded))
                offset += len(piece) + 1
        if len(found) >= limit:
            return found[:limit]
    return found


@dataclass(frozen=True)
class JoinedTokens:
    """Decoded texts joined by blank lines, and where each one starts in the join."""

    text: str
    offsets: tuple[int, ...]
    tokens: tuple[EncodedToken, ...]

    def tokens_in(self, start: int, end: int) -> list[EncodedToken]:
        """The tokens whose decoded text overlaps ``[start, end)`` of the joined text."""
        first = max(0, bisect_right(self.offsets, start) - 1)
        out = []
        for i in range(first, len(self.tokens)):
            if self.offsets[i] >= end:
                break
            out.append(self.tokens[i])
        return out


def joined(tokens: list[EncodedToken]) -> JoinedTokens:
    """One text holding every decoded token, to analyse in one call."""
    offsets = []
    cursor = 0
    for token in tokens:
        offsets.append(cursor)
        cursor += len(token.decoded) + len(_SEPARATOR)
    return JoinedTokens(_SEPARATOR.join(t.decoded for t in tokens), tuple(offsets), tuple(tokens))
