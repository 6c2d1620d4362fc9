"""The bundled demo news (``articles.yaml``) as typed, validated records.

``load_demo_articles()`` reads the file shipped inside the package (through
``importlib.resources``, so it works from an installed wheel) and returns one frozen
record per article, each carrying its outlet. A file that breaks the rules below
raises ``DemoDataError``; the bundled file is checked by the unit tests, so at run time
that only happens to a hand-edited copy.

Time is relative: an article is published ``published_hours_ago`` hours before the
feed server started, plus ``release_after_s`` seconds, and appears in its feed once
``release_after_s`` seconds have passed since the start. An article released during
the demo therefore has ``published_hours_ago: 0`` and is published when it appears.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, Literal, cast

import yaml

from devtools.demo.errors import DemoDataError

FeedFormat = Literal["rss", "atom", "json"]
FEED_FORMATS: tuple[FeedFormat, ...] = ("rss", "atom", "json")

_HOST = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.example$")
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")


@dataclass(frozen=True, slots=True)
class Outlet:
    """An invented news outlet and the one feed it publishes."""

    name: str
    host: str  # e.g. "harbourtimes.example"; the first path segment on the feed server
    format: FeedFormat
    language: str  # ISO 639-1

    @property
    def site_url(self) -> str:
        """The outlet's (invented, unresolvable) home page: the feed's site link.

        Feeds name it as real feeds name their site, so a reader that takes the source
        from the site link sees one source per outlet, not the demo server's address.
        """
        return f"https://{self.host}/"

    @property
    def feed_path(self) -> str:
        return f"/{self.host}/feed.json" if self.format == "json" else f"/{self.host}/feed.xml"


@dataclass(frozen=True, slots=True)
class DemoArticle:
    """One demo article. ``story`` is ground truth for tests and is never served."""

    outlet: Outlet
    story: str
    title: str
    summary: str
    slug: str
    published_hours_ago: float
    release_after_s: float

    @property
    def path(self) -> str:
        """The article page's path on the feed server."""
        return f"/{self.outlet.host}/articles/{self.slug}.html"

    def published_at(self, started_at: datetime) -> datetime:
        return started_at - timedelta(hours=self.published_hours_ago) + timedelta(seconds=self.release_after_s)

    def released_at(self, started_at: datetime) -> datetime:
        return started_at + timedelta(seconds=self.release_after_s)

    def is_released(self, started_at: datetime, now: datetime) -> bool:
        return now >= self.released_at(started_at)


def _field(raw: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in raw:
        raise DemoDataError(f"{where}: missing field {key!r}")
    value = raw[key]
    # YAML reads 0 as int; a float field accepts it (bool is an int, and is refused).
    ok = isinstance(value, int | float) and not isinstance(value, bool) if kind is float else isinstance(value, kind)
    if not ok:
        raise DemoDataError(f"{where}: field {key!r} must be {kind.__name__}, got {type(value).__name__}")
    if kind is str and not value.strip():
        raise DemoDataError(f"{where}: field {key!r} is empty")
    return value


def _outlet(raw: object, index: int) -> Outlet:
    where = f"outlets[{index}]"
    if not isinstance(raw, dict):
        raise DemoDataError(f"{where}: expected a mapping")
    host = _field(raw, "host", str, where)
    fmt = _field(raw, "format", str, where)
    language = _field(raw, "language", str, where)
    if not _HOST.match(host):
        raise DemoDataError(f"{where}: host {host!r} must be a lower-case name under .example")
    if fmt not in FEED_FORMATS:
        raise DemoDataError(f"{where}: format {fmt!r} is not one of {', '.join(FEED_FORMATS)}")
    if not _LANGUAGE.match(language):
        raise DemoDataError(f"{where}: language {language!r} is not a two-letter code")
    return Outlet(name=_field(raw, "name", str, where), host=host, format=cast(FeedFormat, fmt), language=language)


def _article(raw: object, index: int, outlets: dict[str, Outlet]) -> DemoArticle:
    where = f"articles[{index}]"
    if not isinstance(raw, dict):
        raise DemoDataError(f"{where}: expected a mapping")
    host = _field(raw, "outlet", str, where)
    if host not in outlets:
        raise DemoDataError(f"{where}: unknown outlet {host!r}")
    slug = _field(raw, "slug", str, where)
    if not _SLUG.match(slug):
        raise DemoDataError(f"{where}: slug {slug!r} must be lower-case words joined by '-'")
    hours = float(_field(raw, "published_hours_ago", float, where))
    release = float(_field(raw, "release_after_s", float, where))
    if hours < 0 or release < 0:
        raise DemoDataError(f"{where}: published_hours_ago and release_after_s must not be negative")
    return DemoArticle(
        outlet=outlets[host],
        story=_field(raw, "story", str, where),
        title=_field(raw, "title", str, where).strip(),
        summary=" ".join(_field(raw, "summary", str, where).split()),
        slug=slug,
        published_hours_ago=hours,
        release_after_s=release,
    )


def parse_demo_data(text: str) -> tuple[tuple[Outlet, ...], tuple[DemoArticle, ...]]:
    """Outlets and articles from the YAML text; ``DemoDataError`` names the first problem."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DemoDataError(f"demo articles are not valid YAML: {exc}") from exc
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("outlets"), list)
        or not isinstance(doc.get("articles"), list)
    ):
        raise DemoDataError("demo articles must be a mapping with 'outlets' and 'articles' lists")
    outlets: dict[str, Outlet] = {}
    for i, raw in enumerate(doc["outlets"]):
        outlet = _outlet(raw, i)
        if outlet.host in outlets:
            raise DemoDataError(f"outlets[{i}]: duplicate host {outlet.host!r}")
        outlets[outlet.host] = outlet
    articles = tuple(_article(raw, i, outlets) for i, raw in enumerate(doc["articles"]))
    seen: set[str] = set()
    for i, article in enumerate(articles):
        if article.path in seen:
            raise DemoDataError(f"articles[{i}]: duplicate slug {article.slug!r} for {article.outlet.host}")
        seen.add(article.path)
    return tuple(outlets.values()), articles


def _bundled_text() -> str:
    return resources.files("devtools.demo").joinpath("articles.yaml").read_text(encoding="utf-8")


def load_demo_data() -> tuple[tuple[Outlet, ...], tuple[DemoArticle, ...]]:
    """The bundled outlets and articles, in file order."""
    return parse_demo_data(_bundled_text())


def load_demo_outlets() -> tuple[Outlet, ...]:
    """The bundled outlets, in file order."""
    return load_demo_data()[0]


def load_demo_articles() -> tuple[DemoArticle, ...]:
    """The bundled articles, in file order, each with its outlet."""
    return load_demo_data()[1]
