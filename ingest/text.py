"""HTML and feed text -> plain text for Article fields, keeping every word of the text.

``html_to_text`` takes an HTML fragment: elements that hold no reading text (script,
style, svg, iframe, ...) are dropped with their content, entities are decoded,
whitespace is collapsed. Text that after one pass still holds real markup (a start tag
and its end tag, or a self-closing tag: double-escaped HTML, common in feeds) is
stripped again. ``plain`` takes a field that should hold no markup and strips markup
only when it is really there.

Text is kept exactly as text: ``javascript:`` or a lone ``<script>`` in a sentence is a
word of the news, not a threat, because the pages only ever insert feed text as text
under a strict content security policy (no "defang" pass deletes words).

An element opened and never closed does not swallow the rest of the text. Python's
parser keeps everything after an unclosed ``<script>`` or ``<style>`` as raw text it never
reports (3.11) or reports as that element's content (newer versions), and after an
unclosed ``<svg>`` it reports the rest as the svg's children; either way, what an
unclosed dropped element held is given back at the end, its markup stripped.

``strip_bidi`` removes the bidirectional embedding, override and isolate controls
(U+202A-U+202E, U+2066-U+2069) that can make a one-line title or a URL read as
something else; the adapter applies it to titles and URLs and records it.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

MAX_URL_CHARS = 2048  # longer links are refused (and recorded): sitemaps' limit, far above real articles'

_SKIP = frozenset({"script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math", "head"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_BLOCK = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "tr",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
        "hr",
        "dd",
        "dt",
    }
)
_START = re.compile(r"<([a-zA-Z][a-zA-Z0-9:-]*)(?:\s[^<>]*)?>")
_END = re.compile(r"</([a-zA-Z][a-zA-Z0-9:-]*)\s*>")
_SELF_CLOSING = re.compile(r"<[a-zA-Z][a-zA-Z0-9:-]*(?:\s[^<>]*)?/>")
# Controls, non-characters and lone surrogates (a JSON "\ud800" escape): no text, and no valid UTF-8.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200b\u3000]+")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
_RECOVER_DEPTH = 4  # an unclosed element inside an unclosed element's text...; then raw text


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden: list[tuple[str, list[str]]] = []  # open dropped elements: (tag, what they held)

    def _out(self, text: str) -> None:
        (self.hidden[-1][1] if self.hidden else self.parts).append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP and tag not in _VOID:
            self.hidden.append((tag, []))
        elif tag in _BLOCK:
            self._out("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self._out("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and tag not in _VOID:
            for i in range(len(self.hidden) - 1, -1, -1):
                if self.hidden[i][0] == tag:  # closed: it and anything left open inside it are dropped
                    del self.hidden[i:]
                    break
        elif tag in _BLOCK:
            self._out("\n")

    def handle_data(self, data: str) -> None:
        self._out(data)

    def leftover(self) -> str:
        """After close(): what unclosed dropped elements held, and raw text the parser kept back."""
        held = "".join(part for _, parts in self.hidden for part in parts)
        return held + self.rawdata


def _strip_once(markup: str, depth: int = 0) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    rest = parser.leftover()
    if rest:
        # An element opened and never closed: its content is the rest of the text, not something to drop.
        text += _strip_once(rest, depth + 1) if depth < _RECOVER_DEPTH and len(rest) < len(markup) else rest
    return text


def looks_like_markup(text: str) -> bool:
    """A start tag with its end tag after it, or a self-closing tag: markup, not words about markup."""
    if "<" not in text:
        return False
    if _SELF_CLOSING.search(text):
        return True
    first_start: dict[str, int] = {}
    for m in _START.finditer(text):
        first_start.setdefault(m.group(1).lower(), m.start())
    return any(first_start.get(m.group(1).lower(), len(text)) < m.start() for m in _END.finditer(text))


def _tidy(text: str, multiline: bool) -> str:
    text = _CONTROL.sub("", text)
    if not multiline:
        return _SPACES.sub(" ", text.replace("\n", " ")).strip()
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def html_to_text(markup: str, limit: int = 100_000, multiline: bool = True) -> str:
    """Visible text of an HTML fragment, at most ``limit`` characters."""
    text = markup[: limit * 4]
    if "<" not in text and "&" not in text:
        return _tidy(text, multiline)[:limit]
    text = _strip_once(text)
    for _ in range(2):  # double- (or triple-) escaped markup, decoded once by the pass before
        if not looks_like_markup(text):
            break
        text = _strip_once(text)
    return _tidy(text, multiline)[:limit]


def plain(value: str, limit: int = 100_000, multiline: bool = False) -> str:
    """A text field that should hold no markup: entities decoded, markup stripped only where it really is."""
    value = value[: limit * 4]
    if looks_like_markup(value):
        return html_to_text(value, limit, multiline)
    text = unescape(value) if "&" in value else value
    if text != value and looks_like_markup(text):  # escaped markup in a text field
        return html_to_text(text, limit, multiline)
    return _tidy(text, multiline)[:limit]


def strip_bidi(text: str) -> tuple[str, bool]:
    """``text`` without bidi embedding/override/isolate controls, and whether it had any."""
    cleaned = _BIDI.sub("", text)
    return cleaned, len(cleaned) != len(text)
