"""HTML and feed text -> clean plain text for Article fields.

Scripts, styles and other non-content elements are dropped with their content,
entities are decoded, whitespace is collapsed. Text that still looks like markup after
one pass (double-escaped HTML, common in feeds) is stripped again, and a last guard
removes ``<script`` and ``javascript:`` so they never reach an Article whatever the input.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

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
_TAGLIKE = re.compile(r"<\s*/?\s*[a-zA-Z!?][^<>]*>")
_DANGER = re.compile(r"<\s*/?\s*script|javascript\s*:|vbscript\s*:", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200b\u3000]+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP and tag not in _VOID:
            self.skip_depth += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and tag not in _VOID:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data)


def _strip_once(markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


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
        return _tidy(_defang(text), multiline)[:limit]
    for _ in range(3):
        text = _strip_once(text)
        if not _TAGLIKE.search(text):
            break
    return _tidy(_defang(text), multiline)[:limit]


def plain(value: str, limit: int = 100_000, multiline: bool = False) -> str:
    """A text field that should hold no markup: entities decoded, any markup stripped."""
    value = value[: limit * 4]
    if "<" in value or "&" in value:
        return html_to_text(value, limit, multiline)
    return _tidy(_defang(unescape(value)), multiline)[:limit]


def _defang(text: str) -> str:
    # Each pass shortens the text, so this ends; removing one match can form another.
    while _DANGER.search(text):
        text = _DANGER.sub("", text)
    return text
