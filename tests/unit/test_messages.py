import json
from datetime import datetime

import pytest
from pydantic import ValidationError

from devtools.samples import T0, article, embedded, enriched, story
from storywire.messages import (
    Alert,
    Article,
    EmbeddedArticle,
    EnrichedArticle,
    MalformedMessage,
    Story,
    StoryArticle,
    StoryRestore,
    StorySnapshot,
    UnsupportedSchemaVersion,
    decode,
    trusted,
)


@pytest.mark.parametrize(
    ("model", "msg"),
    [
        (Article, article()),
        (EmbeddedArticle, embedded()),
        (EnrichedArticle, enriched()),
        (Story, story()),
        (Alert, Alert(id="r1:s1:0", rule="r1", kind="breaking", story=story(), reason="3 sources", time=T0)),
    ],
)
def test_json_round_trip(model: type, msg: object) -> None:
    data = msg.to_json()  # type: ignore[attr-defined]
    assert decode(model, data) == msg


def test_newer_schema_version_is_a_clear_error() -> None:
    obj = json.loads(article().to_json())
    obj["schema_version"] = 2
    with pytest.raises(UnsupportedSchemaVersion, match="schema_version 2 is not supported"):
        decode(Article, json.dumps(obj))


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b"\xff\xfe", b'{"id": "x"}', b"[" * 100_000])
def test_malformed_input_raises_only_malformed_message(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode(Article, data)


def test_not_json_says_so() -> None:
    with pytest.raises(MalformedMessage, match="not JSON"):
        decode(Article, b"{not json")


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        article(published=datetime(2023, 5, 3, 9, 0))


def test_times_are_normalised_to_utc() -> None:
    a = article(published="2023-05-03T12:00:00+03:00")
    assert a.published == T0
    offset = a.published.utcoffset()
    assert offset is not None and offset.total_seconds() == 0


def test_messages_are_frozen() -> None:
    a = article()
    with pytest.raises(ValidationError):
        a.title = "changed"  # type: ignore[misc]


def test_enriched_is_an_embedded_is_an_article() -> None:
    e = enriched()
    assert isinstance(e, Article) and isinstance(e, EmbeddedArticle)
    # a consumer reading only Article fields can still parse the richer message
    assert Article.model_validate(e.model_dump(include=set(Article.model_fields))).id == e.id


@pytest.mark.parametrize("msg", [story(), story().top_articles[0]])
def test_trusted_builds_what_model_construct_builds(msg: Story | StoryArticle) -> None:
    model = type(msg)
    # every field but schema_version, in reverse order: trusted puts them back in field order
    values = {name: getattr(msg, name) for name in reversed(model.model_fields) if name != "schema_version"}
    built = trusted(model, **dict(values))
    reference = model.model_construct(**values)
    assert built == reference == msg
    assert built.model_dump_json() == reference.model_dump_json()
    assert built.model_fields_set == reference.model_fields_set
    del values["id"]
    with pytest.raises(TypeError, match="'id' is missing"):
        trusted(model, **values)


def test_a_field_added_later_is_ignored_by_an_older_reader() -> None:
    """The versioning rule: an additive field keeps the version, and readers that do not know it
    read the rest, so adding a field never needs ordered restarts."""
    obj = json.loads(embedded().to_json())
    obj["sentiment"] = 0.7  # a field some later build adds
    got = decode(EmbeddedArticle, json.dumps(obj))
    assert got == embedded()


def test_versions_up_to_the_types_own_are_read_and_above_refused() -> None:
    class ArticleV2(Article):
        VERSION = 2

    obj = json.loads(article().to_json())
    obj["schema_version"] = 2
    assert decode(ArticleV2, json.dumps(obj)).schema_version == 2
    assert decode(ArticleV2, article().to_json()).schema_version == 1
    obj["schema_version"] = 3
    with pytest.raises(UnsupportedSchemaVersion, match="reads 1 to 2"):
        decode(ArticleV2, json.dumps(obj))
    obj["schema_version"] = 0
    with pytest.raises(MalformedMessage, match="schema_version"):
        decode(ArticleV2, json.dumps(obj))


def _snapshot() -> StorySnapshot:
    restore = StoryRestore(centroid_scale=2.5, profile={"kremlin": 4.0, "drone": 2.0}, members=("a0", "a1"))
    return StorySnapshot(**story().model_dump(), restore=restore)


def test_the_public_story_never_carries_the_clusterers_restore_state() -> None:
    snap = _snapshot()
    read_as_story = decode(Story, snap.to_json())  # what the index and the alert service do
    assert read_as_story == story() == snap.public()
    alert = Alert(id="r/s1/0", rule="r", kind="breaking", story=read_as_story, reason="x", time=T0)
    assert b"restore" not in alert.to_json() and b"centroid_scale" not in alert.to_json()
    assert decode(StorySnapshot, snap.to_json()) == snap


def test_snapshots_written_before_restore_existed_are_read_into_it() -> None:
    legacy = json.loads(story().to_json()) | {"centroid_scale": 2.5, "profile": {"kremlin": 4.0}, "members": ["a0"]}
    got = decode(StorySnapshot, json.dumps(legacy))
    assert got.restore == StoryRestore(centroid_scale=2.5, profile={"kremlin": 4.0}, members=("a0",))
    assert got.public() == story()


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_outside_years_1_to_9999_in_utc_is_malformed_not_an_overflow(when: str) -> None:
    obj = json.loads(article().to_json()) | {"published": when}
    with pytest.raises(MalformedMessage, match="out of range in UTC"):  # was an OverflowError: a crash loop
        decode(Article, json.dumps(obj))


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("embedding", [1e308, 0.0, 0.0, 0.0], "not L2-normalised"),  # inf in float32
        ("embedding", [5e-324] * 4, "not L2-normalised"),  # zero in float32
        ("embedding", [1.0] * 4097, "at most 4096"),
        ("terms", {"drone": 1e308}, "less than or equal to 1000000"),
        ("terms", {"x" * 300: 1.0}, "at most 256 characters"),
    ],
)
def test_embedded_values_the_clusterer_cannot_use_are_malformed(field: str, value: object, why: str) -> None:
    obj = json.loads(embedded().to_json()) | {field: value}
    with pytest.raises(MalformedMessage, match=why):
        decode(EmbeddedArticle, json.dumps(obj))


def test_nan_and_infinity_are_refused_wherever_a_float_is() -> None:
    text = enriched().to_json().replace(b'"similarity":0.9', b'"similarity":NaN')
    with pytest.raises(MalformedMessage, match="finite number"):
        decode(EnrichedArticle, text)
    snap = json.loads(story().to_json()) | {"restore": {"centroid_scale": 1e300, "profile": {"a": 1.0}}}
    with pytest.raises(MalformedMessage, match="less than or equal to 1000000000"):
        decode(StorySnapshot, json.dumps(snap))
    with pytest.raises(MalformedMessage, match="less than or equal to 9007199254740991"):
        decode(Story, json.dumps(json.loads(story().to_json()) | {"version": 2**63}))
