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

Values are checked here against the limits the cores need, so every reader (the stages,
the clusterer's restore, the index, the alerts) refuses the same records and no core
meets a value it cannot use: floats are finite (``NaN`` and ``Infinity`` are refused,
and vectors must stay finite and non-zero in float32, the precision the clusterer
computes in); embeddings and centroids are unit vectors of at most ``MAX_DIMS`` values;
term weights, versions and sizes are bounded (the constants below). A record outside
them is malformed: a dead letter, never a crash or a corrupt state.

``raw_article_budget`` is the size an Article may take on ``articles.raw`` so that what
the later stages add (the embedding, the terms, the story fields) still fits a message.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, NamedTuple, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# The version every message type has today; a type whose shape changes in a way readers
# cannot ignore gets ``VERSION = 2`` of its own (see the rule above).
SCHEMA_VERSION = 1


# --- limits every reader enforces (see the module docstring) -------------------------------
MAX_DIMS = 4096  # values of an embedding or a centroid
UNIT_NORM = (0.5, 2.0)  # an L2-normalised vector's norm, with room for rounding and half precision
MAX_TERMS = 1024  # entries of EmbeddedArticle.terms (the workers send at most 64)
MAX_TERM_CHARS = 256  # characters of one term (the workers send at most EMBED_TERM_CHARS)
MAX_TERM_WEIGHT = 1e6  # one article's weight for a term: sums of small integers (enrich.features)
MAX_PROFILE_WEIGHT = 1e15  # a story's accumulated weight for a term: exact enough in float32
MAX_VERSION = 2**53 - 1  # story versions: exact as JSON numbers and Elasticsearch external versions
MAX_COUNT = 2**31 - 1  # story sizes
MAX_SCALE = 1e9  # centroid_scale: the norm of a sum of unit vectors, at most the member count
MAX_SCORE = 1e3  # similarities and join scores (a cosine plus bounded bonuses and penalties)
MAX_NAMING_TITLES = 64  # titles a story's restore record keeps for its names (the clusterer keeps 8)

# --- the size budget of a record on its way through the stages ----------------------------
EMBED_TERMS = 64  # terms an embedding worker sends (enrich.features.terms' default)
EMBED_TERM_CHARS = 100  # longer terms are dropped by the worker (no real word is this long)
BUDGET_DIMS = 1024  # the largest model the budget leaves room for (the default has 384)
_JSON_FLOAT = 25  # bytes of one float in JSON at most, with its comma: "-1.2345678901234567e-05,"
RECORD_OVERHEAD = 4096  # a record's key, headers and batch framing (as the poller always left)
ENRICH_GROWTH = 2048  # story id, label, similarity: what the clusterer adds to an embedded article


def stage_growth(dims: int = BUDGET_DIMS) -> int:
    """Bytes the embedding and enrichment stages may add to a raw article, at most."""
    embedding = dims * _JSON_FLOAT + 64  # the field, its brackets and the model name
    terms = EMBED_TERMS * (EMBED_TERM_CHARS * 4 + 32)  # UTF-8 keys, quotes, weights
    names = EMBED_TERMS * (EMBED_TERM_CHARS * 4 + 4)  # the terms written as names, again
    return embedding + terms + names + ENRICH_GROWTH


def raw_article_budget(max_message_bytes: int, dims: int = BUDGET_DIMS) -> int:
    """The largest Article JSON ingest may produce so that it fits every later stage's topic."""
    return max(1024, max_message_bytes - RECORD_OVERHEAD - stage_growth(dims))


class MessageError(Exception):
    """A message could not be turned into a Storywire model."""


class MalformedMessage(MessageError):
    """The bytes are not JSON, or the JSON does not fit the model."""


class UnsupportedSchemaVersion(MessageError):
    """The message's schema_version is unknown to this build (usually newer)."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError("datetime is out of range in UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


def _unit_vector(value: tuple[float, ...]) -> tuple[float, ...]:
    """A vector the clusterer can use: of norm about 1, so finite and non-zero in float32 too
    (every value is at most 2, and a norm of 0.5 cannot be made of values float32 rounds to 0)."""
    if not value:
        return value
    norm = math.hypot(*value)  # in C, exact enough, inf rather than an overflow
    if not UNIT_NORM[0] <= norm <= UNIT_NORM[1]:
        raise ValueError(f"vector is not L2-normalised (norm {norm:.3g}): not finite, zero or overflowing in float32")
    return value


Vector = Annotated[tuple[float, ...], Field(max_length=MAX_DIMS), AfterValidator(_unit_vector)]
Names = Annotated[tuple[Annotated[str, Field(max_length=MAX_TERM_CHARS)], ...], Field(max_length=MAX_TERMS)]
TermWeights = Annotated[
    dict[Annotated[str, Field(max_length=MAX_TERM_CHARS)], Annotated[float, Field(ge=0, le=MAX_TERM_WEIGHT)]],
    Field(max_length=MAX_TERMS),
]
ProfileWeights = dict[str, Annotated[float, Field(ge=0, le=MAX_PROFILE_WEIGHT)]]
Score = Annotated[float, Field(ge=-MAX_SCORE, le=MAX_SCORE)]


class Message(BaseModel):
    """Base of every message: frozen, versioned per type, tolerant of fields added later."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

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
    (``enrich.features.article_terms``), ``names`` those of them the lead writes as a name.
    The embedding workers compute them, since they scale out and the clusterer is a single
    process; when a message has no terms (a hand-made message), the clusterer computes
    both itself, with the same result. A message from a worker older than ``names`` has
    terms without names: it is clustered without name evidence.
    """

    embedding: Vector  # empty: no vector (the clusterer refuses it, the index writes the text alone)
    model: str
    terms: TermWeights = Field(default_factory=dict)
    names: Names = ()


class EnrichedArticle(EmbeddedArticle):
    """An EmbeddedArticle assigned to a story."""

    story_id: str
    similarity: Score
    story_label: str


class StoryStatus(StrEnum):
    ACTIVE = "active"
    DORMANT = "dormant"
    MERGED = "merged"


class StoryArticle(BaseModel):
    """The few fields of a member article that a story snapshot carries."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str
    title: str
    url: str
    source: str
    published: UtcDatetime
    similarity: Score | None = None  # to the story when it joined (orders top_articles)
    language: str | None = None


class Story(Message):
    """A snapshot of a story as everyone reads it; ``version`` grows by one on every change."""

    id: str
    version: int = Field(ge=1, le=MAX_VERSION)
    label: str
    # The full title of the story's most representative report (outlet suffix removed).
    headline: str = ""
    keywords: tuple[str, ...] = ()
    size: int = Field(ge=0, le=MAX_COUNT)
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    centroid: Vector = ()
    top_articles: tuple[StoryArticle, ...] = ()
    status: StoryStatus = StoryStatus.ACTIVE
    merged_into: str | None = None
    absorbed: tuple[str, ...] = ()  # ids of stories merged into this one
    updated: UtcDatetime


class NamingTitle(NamedTuple):
    """A member's title as the story's namer reads it (``enrich.labels``): ``slug`` when its
    casing was read from the article's text (a title taken from a URL). A tuple, written as a
    JSON array: the clusterer keeps thousands and snapshots them without conversion."""

    similarity: Score
    title: str
    language: str | None
    source: str
    slug: bool


def _known_items(value: Any) -> Any:
    """A naming title written by a newer clusterer may carry more items: the known ones are read."""
    if isinstance(value, list | tuple) and len(value) > len(NamingTitle._fields):
        return value[: len(NamingTitle._fields)]
    return value


class StoryRestore(BaseModel):
    """What the clusterer needs to rebuild its state exactly from the compacted topic, and
    nobody else reads: sum of member vectors = centroid * centroid_scale; the weighted terms;
    the member article ids (so a replayed article is recognised); the titles its names are
    cut from (absent in older snapshots: the top articles' titles stand in)."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    centroid_scale: Annotated[float, Field(ge=0, le=MAX_SCALE)] | None = None
    profile: ProfileWeights = Field(default_factory=dict)
    members: tuple[str, ...] = ()
    names: Names = ()  # the profile's terms that a member wrote as a name
    language_counts: Annotated[tuple[Annotated[int, Field(ge=0, le=MAX_COUNT)], ...], Field(max_length=MAX_TERMS)] = ()
    # The titles its names are cut from (enrich.story_state.NAMING_TITLES of them today).
    titles: Annotated[
        tuple[Annotated[NamingTitle, BeforeValidator(_known_items)], ...], Field(max_length=MAX_NAMING_TITLES)
    ] = ()


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
