"""Bodies labelled UTF-8 (or not labelled: XML's and JSON's default) that are not UTF-8.

A feed in windows-1251 served with ``charset=utf-8`` made feedparser fall back to
windows-1252: Cyrillic titles became "Ïðèâåò" on the article, with no warning.
``repair_utf8`` runs before the parser. When the body is labelled UTF-8 and does not
decode as UTF-8, the bytes that are not UTF-8 are decoded with the legacy encoding that
fits them best and the body is handed on as real UTF-8, with a warning that goes onto
every Article of the feed. When most of the body is UTF-8 (a few stray windows-1252
quotes in one entry) only the stray bytes are re-decoded; when almost none of it is,
the whole body is.

Which legacy encoding fits is decided on the first 64 KB, the non-UTF-8 bytes read with
each candidate. A reading loses points for a symbol next to a letter ('£ó', 'ł³': the
wrong table), for symbols news text does not use (box drawing, '¤'), for words that mix
scripts ("cafй"), for capitals inside a word that is not all capitals ("рТЙЧЕФ": KOI8-R
read as windows-1251), for Latin words of four or more accented letters in a row
("Ïðèâåò": windows-1251 read as windows-1252), and a little for Icelandic letters (mostly
Turkish read as windows-1252). The lowest score per re-decoded character wins; ties go
to the earlier, more common encoding. When none fits (random bytes), the body is decoded
with replacement characters and the warning says so.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CANDIDATES = ("windows-1252", "windows-1251", "windows-1254", "windows-1250", "koi8-r", "windows-1253")
_CHARSET = re.compile(rb"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']", re.IGNORECASE)
# Byte order marks and the first bytes of an unmarked UTF-16/32 XML document: not UTF-8 by label.
_OTHER_UNICODE = (b"\xfe\xff", b"\xff\xfe", b"\x00\x00\xfe\xff", b"<\x00", b"\x00<", b"\x00\x00\x00<")
_UTF8_NAMES = frozenset({"utf-8", "utf8", "unicode-1-1-utf-8"})
_SYMBOLS = frozenset({"Sc", "Sk", "Sm", "So", "No"})
_COMMON_SYMBOLS = frozenset("©®°±×÷™€£¥¢¬¼½¾²³¹¦")  # plausible in news text, but not against a letter
_RARE = frozenset("ðþÐÞ")  # Icelandic letters: mostly Turkish ğşĞŞ (windows-1254) read as windows-1252
_MOSTLY_LEGACY = 10  # invalid bytes per valid multi-byte character beyond which the whole body is legacy
_SAMPLE = 64 * 1024  # bytes the candidates are scored on
_NO_FIT = 0.2  # penalty points per re-decoded character above which no candidate fits
_SURROGATES = re.compile("[\udc80-\udcff]+")
_NON_ASCII = re.compile("[^\x00-\x7f]+")


@dataclass(frozen=True)
class Repaired:
    body: bytes
    warning: str | None = None  # None: the body was fine as it was


def declared_charset(body: bytes, content_type: str) -> str | None:
    """The charset the HTTP header names, else the XML declaration, else None (unlabelled)."""
    m = _CHARSET.search(content_type.encode("latin-1", "replace"))
    if m:
        return m.group(1).decode("ascii").lower()
    m = _XML_DECL.match(body[:500])
    return m.group(1).decode("ascii").lower() if m else None


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0]


def _score(text: str, spans: list[tuple[int, int]]) -> float:
    """Penalty points of one candidate reading, from the re-decoded spans and the words around them."""
    points = 0.0
    for start, end in spans:
        lo, hi = start, end
        while lo > 0 and text[lo - 1].isalpha():
            lo -= 1
        while hi < len(text) and text[hi].isalpha():
            hi += 1
        for i in range(start, end):
            category = unicodedata.category(text[i])
            if text[i] in _RARE:
                points += 0.5
            elif category in ("Cc", "Co", "Cn"):
                points += 1
            elif category in _SYMBOLS and text[i] not in _COMMON_SYMBOLS:
                points += 1  # box drawing, '¤', '¨': not news text
            elif category in _SYMBOLS and (text[i - 1 : i].isalpha() or text[i + 1 : i + 2].isalpha()):
                points += 1  # '£ó' or 'ł³': a symbol where a letter belongs, so the wrong table
        word = text[lo:hi]
        if len({_script(c) for c in word if c.isalpha()}) > 1:
            points += 2  # "cafй"
        if not word.isupper():
            points += sum(1 for c in word[1:] if c.isupper())  # "рТЙЧЕФ": KOI8-R read as windows-1251
        run = 0
        for c in word:
            run = run + 1 if not c.isascii() and _script(c) == "LATIN" else 0
            points += run >= 4  # "Ïðèâåò": windows-1251 read as windows-1252
    return points


def _reading(sample: bytes, encoding: str, whole: bool) -> tuple[str, list[tuple[int, int]]] | None:
    """The sample read with ``encoding`` for all of it or only its non-UTF-8 bytes, and the spans so read."""
    if whole:
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError:
            return None
        return text, [m.span() for m in _NON_ASCII.finditer(text)]
    escaped = sample.decode("utf-8", "surrogateescape")
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = size = 0
    for m in _SURROGATES.finditer(escaped):
        try:
            piece = bytes(ord(c) - 0xDC00 for c in m.group()).decode(encoding)
        except UnicodeDecodeError:
            return None
        before = escaped[pos : m.start()]
        out += (before, piece)
        size += len(before)
        spans.append((size, size + len(piece)))
        size += len(piece)
        pos = m.end()
    out.append(escaped[pos:])
    return "".join(out), spans


def _redecode(body: bytes, encoding: str, whole: bool) -> str:
    if whole:
        return body.decode(encoding, "replace")
    escaped = body.decode("utf-8", "surrogateescape")
    return _SURROGATES.sub(lambda m: bytes(ord(c) - 0xDC00 for c in m.group()).decode(encoding, "replace"), escaped)


def repair_utf8(body: bytes, content_type: str = "") -> Repaired:
    """``body`` as real UTF-8 when it was labelled (or defaults to) UTF-8 but is not; see the module doc."""
    if body.startswith(_OTHER_UNICODE):
        return Repaired(body)  # UTF-16/32 speaks for itself; the parser reads it
    label = declared_charset(body, content_type)
    if label is not None and label not in _UTF8_NAMES:
        return Repaired(body)  # labelled something else: the parser decodes it as labelled
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return Repaired(body)
    escaped = body.decode("utf-8", "surrogateescape")
    invalid = len(escaped) - len(_SURROGATES.sub("", escaped).encode("utf-8", "surrogatepass")) + 0
    invalid = sum(len(m) for m in _SURROGATES.findall(escaped))
    valid_multi = len(escaped) - len(escaped.encode("ascii", "ignore")) - invalid
    whole = valid_multi * _MOSTLY_LEGACY < invalid
    sample = body[:_SAMPLE]
    best: tuple[float, str] | None = None
    for encoding in CANDIDATES:
        read = _reading(sample, encoding, whole)
        if read is None:
            continue
        text, spans = read
        score = _score(text, spans) / max(1, sum(e - s for s, e in spans))
        if best is None or score < best[0]:
            best = (score, encoding)
    said = f"labelled {label}" if label else "unlabelled (so UTF-8)"
    if best is None or best[0] > _NO_FIT:
        fixed = body.decode("utf-8", "replace").encode("utf-8")
        return Repaired(fixed, f"body {said} is not UTF-8 and no legacy encoding fits: {invalid} bytes replaced")
    encoding = best[1]
    what = "body" if whole else f"{invalid} bytes of the body"
    return Repaired(_redecode(body, encoding, whole).encode("utf-8"), f"{what} {said} but in {encoding}: re-decoded")
