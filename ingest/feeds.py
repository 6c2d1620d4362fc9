"""The feed list: a YAML file of feeds, with OPML import and export. Feeds are data.

feeds.yaml::

    feeds:
      - url: https://www.example.com/rss.xml
        name: Example News          # optional
        source: example.com         # optional; default: the feed site's host
        tags: [world]               # optional, copied onto every Article
        language: en                # optional, used when entries do not declare one
        interval: 600               # optional, seconds between polls

Errors reading or validating the file raise FeedListError with the reason.
"""

from __future__ import annotations

import io
import os
import tempfile
import xml.etree.ElementTree as ET
import xml.sax
import xml.sax.handler
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.adapter import canonical_url
from ingest.errors import FeedListError


class FeedSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    name: str = ""
    source: str = ""
    tags: tuple[str, ...] = ()
    language: str | None = None
    interval: float | None = Field(default=None, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
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


class _Outlines(xml.sax.handler.ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.path: list[str] = []
        self.found: list[tuple[dict[str, str], tuple[str, ...]]] = []

    def startElement(self, name: str, attrs: Any) -> None:
        if name != "outline":
            return
        a = {k: str(v) for k, v in attrs.items()}
        if a.get("xmlUrl") or a.get("xmlurl"):
            cats = [c.strip("/ ") for c in a.get("category", "").split(",")]
            self.found.append((a, (*self.path, *(c for c in cats if c))))
        self.path.append(a.get("title") or a.get("text") or "")

    def endElement(self, name: str) -> None:
        if name == "outline" and self.path:
            self.path.pop()


def parse_opml(data: bytes) -> list[FeedSpec]:
    """Feeds of an OPML document (nested outlines and categories become tags); no external entities."""
    handler = _Outlines()
    parser = xml.sax.make_parser()  # noqa: S317 - external entities off; expat caps entity expansion
    parser.setFeature(xml.sax.handler.feature_external_ges, False)
    parser.setFeature(xml.sax.handler.feature_external_pes, False)
    parser.setContentHandler(handler)
    try:
        parser.parse(io.BytesIO(data))
    except xml.sax.SAXException as exc:
        raise FeedListError(f"not an OPML document: {exc}") from exc
    feeds = []
    for attrs, path in handler.found:
        try:
            feeds.append(
                FeedSpec(
                    url=attrs.get("xmlUrl") or attrs.get("xmlurl") or "",
                    name=attrs.get("title") or attrs.get("text") or "",
                    tags=tuple(dict.fromkeys(t for t in path if t)),
                    language=attrs.get("language") or None,
                )
            )
        except ValidationError:
            continue  # an outline without a usable feed URL: a link, a typo
    return feeds


def to_opml(feeds: list[FeedSpec], title: str = "Storywire feeds") -> bytes:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    for f in feeds:
        attrs = {"type": "rss", "text": f.name or f.url, "xmlUrl": f.url}
        if f.name:
            attrs["title"] = f.name
        if f.language:
            attrs["language"] = f.language
        if f.tags:
            attrs["category"] = ",".join(f.tags)
        ET.SubElement(body, "outline", attrs)
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
