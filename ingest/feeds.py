"""The feed list: a YAML file of feeds, with OPML import and export. Feeds are data.

feeds.yaml::

    feeds:
      - url: https://www.example.com/rss.xml
        name: Example News          # optional
        source: example.com         # optional; default: the feed site's host
        tags: [world]               # optional, copied onto every Article
        language: en                # optional, used when entries do not declare one
        interval: 600               # optional, seconds between polls
        folder: News/World          # optional, the OPML folder it came from (export writes it back)
        html_url: https://www.example.com/   # optional, the site (OPML htmlUrl)

OPML import (``read_opml``) keeps each outline's folder (its enclosing outlines' titles,
also added to the tags, as before) and ``htmlUrl``, reads ``feed://host/path`` as
``https://host/path`` (and ``feed:http://...`` as the URL it wraps), and says which
outlines it skipped and why; export (``to_opml``) writes the folders back as nested
outlines, so ``read_opml(to_opml(feeds))`` gives the same feeds.

Errors reading or validating the file raise FeedListError with the reason.
"""

from __future__ import annotations

import io
import os
import tempfile
import xml.etree.ElementTree as ET
import xml.sax
import xml.sax.handler
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.adapter import canonical_url
from ingest.errors import FeedListError
from ingest.text import MAX_URL_CHARS


class FeedSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    name: str = ""
    source: str = ""
    tags: tuple[str, ...] = ()
    language: str | None = None
    interval: float | None = Field(default=None, gt=0)
    folder: str = ""
    html_url: str = ""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if len(value) > MAX_URL_CHARS:
            raise ValueError(f"longer than {MAX_URL_CHARS} characters")
        if canonical_url(value) is None:
            raise ValueError("must be an http(s) URL with a host")
        return value


def load_feeds(path: Path) -> list[FeedSpec]:
    """The feeds of a YAML file; a missing file is an empty list."""
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FeedListError(f"{path}: cannot read: {exc}") from exc
    items = data.get("feeds", []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise FeedListError(f"{path}: expected a list under 'feeds'")
    feeds: list[FeedSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"url": item}
        try:
            spec = FeedSpec.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise FeedListError(f"{path}: feed #{i + 1}: {loc}: {err['msg']}") from exc
        if spec.url not in seen:
            seen.add(spec.url)
            feeds.append(spec)
    return feeds


def save_feeds(path: Path, feeds: list[FeedSpec]) -> None:
    """Write the list atomically (temp file + rename), so a reader never sees half a file."""
    rows: list[dict[str, Any]] = [f.model_dump(exclude_defaults=True, mode="json") for f in feeds]
    text = yaml.safe_dump({"feeds": rows}, sort_keys=False, allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class OpmlImport:
    """What an OPML document held: its feeds, the outlines skipped (title, reason) and notes."""

    feeds: list[FeedSpec]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def feed_scheme(url: str) -> tuple[str, bool]:
    """``feed://host/x`` -> ``https://host/x``; ``feed:http://host/x`` -> ``http://host/x``.

    The bare ``feed://`` form names no transport: https is taken, since most feeds are
    served over it and a plain-http feed redirects anyway. Returns (url, changed)."""
    lower = url.lower()
    if lower.startswith(("feed:http://", "feed:https://")):
        return url[5:], True
    if lower.startswith("feed://"):
        return "https://" + url[7:], True
    return url, False


class _Outlines(xml.sax.handler.ContentHandler):
    """Every outline: its attributes, the titles of the outlines around it, and whether it has children."""

    def __init__(self) -> None:
        super().__init__()
        self.path: list[str] = []
        self.open: list[int] = []  # index in ``found`` of each open outline
        self.found: list[tuple[dict[str, str], tuple[str, ...]]] = []
        self.parents: set[int] = set()

    def startElement(self, name: str, attrs: Any) -> None:
        if name != "outline":
            return
        if self.open:
            self.parents.add(self.open[-1])
        self.found.append(({k: str(v) for k, v in attrs.items()}, tuple(self.path)))
        self.open.append(len(self.found) - 1)
        a = self.found[-1][0]
        self.path.append((a.get("title") or a.get("text") or "").strip())

    def endElement(self, name: str) -> None:
        if name == "outline" and self.path:
            self.path.pop()
            self.open.pop()


def read_opml(data: bytes) -> OpmlImport:
    """Feeds of an OPML document with their folders and sites; no external entities."""
    handler = _Outlines()
    parser = xml.sax.make_parser()  # noqa: S317 - external entities off; expat caps entity expansion
    parser.setFeature(xml.sax.handler.feature_external_ges, False)
    parser.setFeature(xml.sax.handler.feature_external_pes, False)
    parser.setContentHandler(handler)
    try:
        parser.parse(io.BytesIO(data))
    except xml.sax.SAXException as exc:
        raise FeedListError(f"not an OPML document: {exc}") from exc
    feeds: list[FeedSpec] = []
    skipped: list[tuple[str, str]] = []
    rewritten = 0
    for i, (attrs, path) in enumerate(handler.found):
        title = attrs.get("title") or attrs.get("text") or ""
        raw = (attrs.get("xmlUrl") or attrs.get("xmlurl") or "").strip()
        if not raw:
            if i not in handler.parents:  # a folder holds outlines; this one holds nothing we can poll
                skipped.append((title or attrs.get("url", "?"), "no xmlUrl: not a feed"))
            continue
        url, changed = feed_scheme(raw)
        rewritten += changed
        folder = [p for p in path if p]
        cats = [c.strip("/ ") for c in attrs.get("category", "").split(",")]
        try:
            feeds.append(
                FeedSpec(
                    url=url,
                    name=title,
                    tags=tuple(dict.fromkeys([*folder, *(c for c in cats if c)])),
                    language=attrs.get("language") or None,
                    folder="/".join(folder),
                    html_url=(attrs.get("htmlUrl") or attrs.get("htmlurl") or "").strip(),
                )
            )
        except ValidationError as exc:
            reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            skipped.append((title or raw, f"{raw}: {reason}"))
    notes = [f"{rewritten} feed:// URL{'s' * (rewritten != 1)} read as https://"] if rewritten else []
    return OpmlImport(feeds, skipped, notes)


def parse_opml(data: bytes) -> list[FeedSpec]:
    """The feeds of an OPML document (``read_opml`` also says what it skipped)."""
    return read_opml(data).feeds


def to_opml(feeds: list[FeedSpec], title: str = "Storywire feeds") -> bytes:
    """OPML 2.0 with each feed inside its folder's outlines, in the list's order."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    open_folders: list[tuple[str, ET.Element]] = []  # the folders the previous feed was in
    for f in feeds:
        parts = [p for p in f.folder.split("/") if p]
        keep = 0
        while keep < min(len(parts), len(open_folders)) and open_folders[keep][0] == parts[keep]:
            keep += 1
        del open_folders[keep:]
        for part in parts[keep:]:
            parent = open_folders[-1][1] if open_folders else body
            open_folders.append((part, ET.SubElement(parent, "outline", {"text": part, "title": part})))
        attrs = {"type": "rss", "text": f.name or f.url, "xmlUrl": f.url}
        if f.name:
            attrs["title"] = f.name
        if f.html_url:
            attrs["htmlUrl"] = f.html_url
        if f.language:
            attrs["language"] = f.language
        own_tags = [t for t in f.tags if t not in parts]  # the folder's tags come back from the folder
        if own_tags:
            attrs["category"] = ",".join(own_tags)
        ET.SubElement(open_folders[-1][1] if open_folders else body, "outline", attrs)
    ET.indent(root)
    body_xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body_xml + b"\n"


def merge(existing: list[FeedSpec], new: list[FeedSpec]) -> tuple[list[FeedSpec], int]:
    """Existing feeds plus those of ``new`` not yet listed; returns the list and how many were added."""
    urls = {f.url for f in existing}
    added = []
    for f in new:
        if f.url not in urls:
            urls.add(f.url)
            added.append(f)
    return existing + added, len(added)
