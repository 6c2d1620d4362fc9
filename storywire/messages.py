"""The messages every Storywire stage exchanges, one module for the whole pipeline.

Topic                          value type
-----------------------------  ----------------
storywire.articles.raw         Article
storywire.articles.embedded    EmbeddedArticle  (an Article plus its vector)
storywire.articles.enriched    EnrichedArticle  (an EmbeddedArticle plus its story)
storywire.stories (compacted)  StorySnapshot    (a Story plus the clusterer's restore state)
storywire.alerts               Alert

Every model is frozen and carries ``schema_version``, a version of its own type. The rule
(also in the README):

- Adding a field with a default is additive: the version stays. Readers ignore fields
  they do not know, so an older reader reads a newer writer's message, and a newer
  reader fills the default into an older one: no ordered restarts.
- Removing or renaming a field, or changing its type or meaning, raises that type's
  version. A reader refuses a version above its own (``UnsupportedSchemaVersion``: the
  record is dead-lettered, never half-read) and reads the older versions it knows.

``Story`` is what everyone reads: the index, the alerts, the API. The clusterer writes
``StorySnapshot``, a Story with ``restore`` (the sum of member vectors, the term profile,
the member ids), which only the clusterer reads back: the index and the alert service
decode the stories topic as ``Story`` and never carry it. Snapshots written before
``restore`` existed (those fields at the top level) are read into ``restore``.

``decode`` turns bytes into a model or raises one of:

    MessageError
     +-- MalformedMessage        not JSON, or fields that do not validate
     +-- UnsupportedSchemaVersion  written by a newer Storywire than this one

so a consumer can send the original bytes to the dead-letter topic with the reason.
Times are timezone-aware UTC datetimes; a naive datetime is refused rather than guessed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# The version every message type has today; a type whose shape changes in a way readers
# cannot ignore gets ``VERSION = 2`` of its own (see the rule above).
SCHEMA_VERSION = 1


class MessageError(Exception):
    """A message could not be turned into a Storywire model."""


class MalformedMessage(MessageError):
    """The bytes are not JSON, or the JSON does not fit the model."""


class UnsupportedSchemaVersion(MessageError):
    """The message's schema_version is unknown to this build (usually newer)."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class Message(BaseModel):
    """Base of every message: frozen, versioned per type, tolerant of fields added later."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # The newest version of this type this build reads and writes; versions 1..VERSION are read.
    VERSION: ClassVar[int] = SCHEMA_VERSION

    schema_version: int = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if not 1 <= value <= cls.VERSION:
            raise ValueError(f"schema_version {value} is not supported (this build reads 1 to {cls.VERSION})")
        return value

    def to_json(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


class PublishedFrom(StrEnum):
    """Where an article's published time came from, so a guessed time is never silent."""

    ENTRY = "entry"  # the entry's own published/updated date
    FEED = "feed"  # the feed-level date, because the entry had none
    FETCH = "fetch"  # nothing usable: the time we fetched it


class TimePrecision(StrEnum):
    """How much of ``published`` the source said: a date-only feed date is "day" (shown as a date)."""

    DAY = "day"
    SECOND = "second"


class Article(Message):
    """One news article as the poller saw it. ``id`` is the Kafka key and the ES ``_id``."""

    id: str
    url: str
    canonical_url: str
    feed_url: str
    source: str
    title: str
    summary: str = ""
    content: str = ""
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    language: str | None = None
    published: UtcDatetime
    published_from: PublishedFrom
    published_precision: TimePrecision = TimePrecision.SECOND
    fetched: UtcDatetime
    # Problems with single fields (an absurd date, a bad URL) are recorded, not fatal.
    warnings: tuple[str, ...] = ()


class EmbeddedArticle(Article):
    """An Article with its L2-normalised embedding and the name of the model that made it.

    ``terms`` are the weighted terms of the title and lead that the clusterer compares
    (``enrich.features.article_terms``). The embedding workers compute them, since they
    scale out and the clusterer is a single process; when a message has none (an older
    worker, a hand-made message), the clusterer computes them itself, with the same result.
    """

    embedding: tuple[float, ...]
    model: str
    terms: dict[str, float] = Field(default_factory=dict)


class EnrichedArticle(EmbeddedArticle):
    """An EmbeddedArticle assigned to a story."""

    story_id: str
    similarity: float
    story_label: str


class StoryStatus(StrEnum):
    ACTIVE = "active"
    DORMANT = "dormant"
    MERGED = "merged"


class StoryArticle(BaseModel):
    """The few fields of a member article that a story snapshot carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    url: str
    source: str
    published: UtcDatetime
    similarity: float | None = None  # to the story when it joined (orders top_articles)
    language: str | None = None


class Story(Message):
    """A snapshot of a story as everyone reads it; ``version`` grows by one on every change."""

    id: str
    version: int = Field(ge=1)
    label: str
    # The full title of the story's most representative report (outlet suffix removed).
    headline: str = ""
    keywords: tuple[str, ...] = ()
    size: int = Field(ge=0)
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    centroid: tuple[float, ...] = ()
    top_articles: tuple[StoryArticle, ...] = ()
    status: StoryStatus = StoryStatus.ACTIVE
    merged_into: str | None = None
    absorbed: tuple[str, ...] = ()  # ids of stories merged into this one
    updated: UtcDatetime


class StoryRestore(BaseModel):
    """What the clusterer needs to rebuild its state exactly from the compacted topic, and
    nobody else reads: sum of member vectors = centroid * centroid_scale; the weighted terms;
    the member article ids (so a replayed article is recognised)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    centroid_scale: float | None = None
    profile: dict[str, float] = Field(default_factory=dict)
    members: tuple[str, ...] = ()


_RESTORE_FIELDS = ("centroid_scale", "profile", "members")


class StorySnapshot(Story):
    """A Story as the clusterer writes it to the stories topic: the public story plus ``restore``."""

    restore: StoryRestore | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_restore(cls, data: Any) -> Any:
        """Snapshots written before ``restore`` carried its fields at the top level."""
        if isinstance(data, dict) and "restore" not in data and any(f in data for f in _RESTORE_FIELDS):
            data = dict(data)
            data["restore"] = {f: data.pop(f) for f in _RESTORE_FIELDS if f in data}
        return data

    def public(self) -> Story:
        """The Story without the restore state (what the index and the alerts carry)."""
        return trusted(Story, **{name: value for name, value in self if name != "restore"})


class Alert(Message):
    """One alert sent (or to be sent) for a rule and a story."""

    id: str  # deterministic: rule, story and escalation level
    rule: str
    kind: str
    story: Story
    reason: str
    level: int = 0  # 0 = first alert, 1.. = escalations
    time: UtcDatetime


M = TypeVar("M", bound=Message)


B = TypeVar("B", bound=BaseModel)


def trusted(model: type[B], **values: Any) -> B:
    """A message from values known to be valid, every field given (``schema_version`` is
    filled in): ``model_construct`` without its per-field alias and default handling, at a
    fifth of its cost. For the clusterer, which builds thousands of snapshots a second
    from state that only ever holds valid values."""
    fields = model.__pydantic_fields__
    given = set(values)  # as model_construct records them: schema_version is a default
    if "schema_version" in fields:
        values["schema_version"] = getattr(model, "VERSION", SCHEMA_VERSION)
    try:  # in field order, which the JSON serialiser follows
        ordered = {name: values[name] for name in fields}
    except KeyError as exc:
        raise TypeError(f"trusted({model.__name__}) needs every field; {exc} is missing") from None
    m = model.__new__(model)
    object.__setattr__(m, "__dict__", ordered)
    object.__setattr__(m, "__pydantic_fields_set__", given)
    object.__setattr__(m, "__pydantic_extra__", None)
    object.__setattr__(m, "__pydantic_private__", None)
    return m


def decode(model: type[M], data: bytes | str) -> M:
    """Parse one message; raise MessageError (never anything else) when it cannot.

    The fast path is pydantic's own JSON parser; only a message that fails it is parsed
    again to tell a newer schema version from a malformed message.
    """
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        try:
            obj = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as bad:
            raise MalformedMessage(f"{model.__name__}: not JSON: {bad}") from exc
        version = obj.get("schema_version") if isinstance(obj, dict) else None
        if isinstance(version, int) and version > model.VERSION:
            raise UnsupportedSchemaVersion(
                f"{model.__name__}: schema_version {version!r} is not supported "
                f"(this build reads 1 to {model.VERSION}); upgrade Storywire to read it"
            ) from exc
        raise MalformedMessage(f"{model.__name__}: {_summarise(exc)}") from exc


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def utcnow() -> datetime:
    return datetime.now(UTC)
