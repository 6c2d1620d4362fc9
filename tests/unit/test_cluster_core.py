"""The clustering core with synthetic vectors: no model, no Kafka."""

from __future__ import annotations

import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from enrich import scoring
from enrich.cluster import Clusterer, DimensionMismatch, InvalidEmbedding
from enrich.features import article_terms
from enrich.lookup import MemoryLookup, SqliteLookup
from enrich.orders import arrival
from enrich.settings import EnrichSettings
from storywire.config import defaults
from storywire.messages import EmbeddedArticle, PublishedFrom, StorySnapshot, StoryStatus, decode

T0 = datetime(2023, 5, 3, 6, 0, tzinfo=UTC)
DIMS = 48


def vec(event: str, n: int, noise: float = 0.35) -> tuple[float, ...]:
    """A unit vector near the event's own direction; deterministic per (event, n)."""
    base = np.random.default_rng(zlib.crc32(event.encode())).normal(size=DIMS)
    base /= np.linalg.norm(base)
    jitter = np.random.default_rng(zlib.crc32(f"{event}/{n}".encode())).normal(size=DIMS)
    v = base + noise * jitter / np.linalg.norm(jitter)
    return tuple(float(x) for x in v / np.linalg.norm(v))


def mix(a: tuple[float, ...], b: tuple[float, ...], wa: float = 1.0) -> tuple[float, ...]:
    v = wa * np.asarray(a) + np.asarray(b)
    return tuple(float(x) for x in v / np.linalg.norm(v))


def art(
    aid: str, title: str, vector: tuple[float, ...], when: datetime = T0, source: str = "a.example", **kw: Any
) -> EmbeddedArticle:
    return EmbeddedArticle(
        id=aid,
        url=f"https://{source}/{aid}",
        canonical_url=f"https://{source}/{aid}",
        feed_url=f"https://{source}/feed",
        source=source,
        title=title,
        summary=str(kw.pop("summary", "")),
        language="en",
        published=when,
        published_from=PublishedFrom.ENTRY,
        fetched=when,
        embedding=vector,
        model="synthetic",
    )


def kremlin(n: int, when: datetime = T0, source: str = "a.example") -> EmbeddedArticle:
    titles = [
        "Two drones shot down over the Kremlin, Moscow says",
        "Kremlin accuses Kyiv of drone attack on Putin's residence",
        "Drone attack on the Kremlin: what we know",
        "Russia says Ukraine tried to hit the Kremlin with drones",
    ]
    lead = "Moscow said two drones targeted the Kremlin overnight; Putin was unharmed, Peskov said."
    return art(f"k{n}", titles[n % len(titles)], vec("kremlin", n), when, source, summary=lead)


def stream() -> list[EmbeddedArticle]:
    """Three events over two days, interleaved, plus one repeated article."""
    out = []
    for i in range(4):
        out.append(kremlin(i, T0 + timedelta(hours=i), source=f"s{i}.example"))
        out.append(
            art(f"q{i}", f"Earthquake of magnitude 7.{i} strikes Herat", vec("herat", i), T0 + timedelta(hours=i))
        )
        out.append(
            art(f"f{i}", "Final: Argentina beat France on penalties", vec("final", i), T0 + timedelta(hours=20 + i))
        )
    out.append(kremlin(1, T0 + timedelta(hours=1), source="s1.example"))
    return out


def test_reports_of_one_event_join_and_other_events_stay_apart() -> None:
    core = Clusterer()
    got = core.assign_batch(stream())
    by_prefix: dict[str, set[str]] = {}
    for a in got:
        by_prefix.setdefault(a.article_id[0], set()).add(a.story_id)
    assert all(len(ids) == 1 for ids in by_prefix.values())
    assert len(set().union(*by_prefix.values())) == 3
    kremlin_story = core.snapshot(next(iter(by_prefix["k"])))
    assert kremlin_story is not None
    assert kremlin_story.size == 4
    assert kremlin_story.sources == ("s0.example", "s1.example", "s2.example", "s3.example")
    assert kremlin_story.first_seen == T0
    assert kremlin_story.last_seen == T0 + timedelta(hours=3)


def test_same_topic_weeks_later_is_a_new_story() -> None:
    core = Clusterer()
    first = core.assign_batch([kremlin(i, T0 + timedelta(hours=i)) for i in range(3)])
    # A drone strike on Moscow four weeks later: same topic, nearly the same vector.
    later = T0 + timedelta(days=27)
    other = core.assign(art("m1", "Drones hit Moscow residential districts", vec("kremlin", 99), later))
    assert other.new_story
    assert other.story_id != first[0].story_id


def evidence(a: EmbeddedArticle, background: scoring.Background) -> scoring.Evidence:
    names: set[str] = set()
    return scoring.Evidence(article_terms(a, names=names), names, background)


def story_evidence(core: Clusterer, story_id: str) -> scoring.Evidence:
    st = core.stories[story_id]
    return scoring.Evidence(st.profile, st.names, core.background)


def test_conflicting_figures_count_against_a_match() -> None:
    lead = "Apple unveiled its new iPhone at its Cupertino event with a faster chip, Tim Cook said."
    phone = vec("iphone", 0, noise=0.0)
    items = [
        art(f"p15-{i}", f"Apple unveils iPhone 15 with USB-C, take {i}", vec("iphone", i, 0.2), summary=lead)
        for i in range(3)
    ]
    core = Clusterer()
    got = core.assign_batch(items)
    same = art("p15-9", "Apple unveils iPhone 15 with new features", mix(phone, vec("iphone16", 0), 2.0), summary=lead)
    other = art("p16-0", "Apple unveils iPhone 16 with new features", mix(phone, vec("iphone16", 0), 2.0), summary=lead)
    story = story_evidence(core, got[0].story_id)
    assert scoring.compare(evidence(same, core.background), story)[2] == 0.0
    assert scoring.compare(evidence(other, core.background), story)[2] == 1.0  # "16" against "15"
    # the same report with another figure is less likely to be this story
    p_same, p_other = (Clusterer().assign_batch([*items, a])[-1].similarity for a in (same, other))
    assert p_other < p_same


def test_another_event_of_the_same_kind_is_told_apart_by_its_name() -> None:
    """Two hurricanes share their topic words; their own names conflict."""

    def storm(aid: str, name: str, n: int) -> EmbeddedArticle:
        body = (
            f"Hurricane {name} made landfall in Florida as a powerful storm on Wednesday, forecasters "
            f"said. {name} brought a storm surge to the coast of Florida and knocked out power."
        )
        return art(aid, f"Hurricane {name.lower()} makes landfall in florida", vec(name, n, 0.3), summary=body)

    core = Clusterer()
    florida = "Florida lawmakers met in Tallahassee. Florida schools and Florida roads were on the agenda."
    others = [art(f"fl{i}", f"Florida budget vote {i}", vec(f"florida{i}", 0), summary=florida) for i in range(4)]
    got = core.assign_batch([*others, *(storm(f"ian{i}", "Ian", i) for i in range(3))])
    story = story_evidence(core, got[-1].story_id)
    assert story.name == "ian"  # the story's most salient name: not the shared "florida"
    lexical, names, _ = scoring.compare(evidence(storm("ida0", "Idalia", 0), core.background), story)
    assert names == 1.0 and lexical > 0.3  # many shared words, but the names conflict
    assert scoring.compare(evidence(storm("ian9", "Ian", 9), core.background), story)[1] == 0.0


def test_capitals_in_a_title_are_style_and_in_the_lead_names() -> None:
    names: set[str] = set()
    article_terms(
        art("t", "Hurricane Idalia Makes Landfall", vec("x", 0), summary="The storm hit Florida. Officials said so."),
        names=names,
    )
    assert names == {"florida"}  # "Officials" starts a sentence; title words are never names


def test_same_input_order_gives_same_ids_whatever_the_batching() -> None:
    items = stream()
    one = [Clusterer().assign_batch(items)]
    core = Clusterer()
    by_one = [core.assign(a) for a in items]
    assert [a.story_id for a in one[0]] == [a.story_id for a in by_one]
    again = Clusterer().assign_batch(items)
    assert [a.story_id for a in again] == [a.story_id for a in one[0]]
    assert [round(a.similarity, 9) for a in again] == [round(a.similarity, 9) for a in one[0]]


def test_terms_sent_by_the_embed_workers_give_what_the_core_would_compute() -> None:
    items = stream()
    carried = [a.model_copy(update={"terms": article_terms(a)}) for a in items]
    assert all(a.terms for a in carried) and not any(a.terms for a in items)
    own, sent = Clusterer().assign_batch(items), Clusterer().assign_batch(carried)
    assert [(a.story_id, a.similarity, a.label) for a in sent] == [(a.story_id, a.similarity, a.label) for a in own]
    # and the core does use what it is sent
    odd = [a.model_copy(update={"terms": {f"only-{a.id}": 4.0}}) for a in items]
    assert [g.similarity for g in Clusterer().assign_batch(odd)] != [g.similarity for g in own]


def near(centroid: np.ndarray, cosine: float, seed: str) -> tuple[float, ...]:
    """A unit vector at ``cosine`` from ``centroid``."""
    other = np.asarray(vec(seed, 0))
    other -= other.dot(centroid) * centroid
    v = cosine * centroid + np.sqrt(1 - cosine**2) * other / np.linalg.norm(other)
    return tuple(float(x) for x in v)


def test_a_report_in_another_language_joins_when_names_agree() -> None:
    english = [kremlin(0), kremlin(1, T0 + timedelta(hours=1), source="b.example")]
    centroid = np.asarray(english[0].embedding) + np.asarray(english[1].embedding)
    centroid /= np.linalg.norm(centroid)
    # A cosine of 0.4 with the story's centroid, as the English-only model gives a translation.
    french = art(
        "fr1",
        "Le Kremlin dit avoir abattu deux drones",
        near(centroid, 0.4, "french"),
        T0 + timedelta(hours=2),
        summary="Moscou accuse Kiev: deux drones visaient le Kremlin, Poutine indemne selon Peskov.",
    ).model_copy(update={"language": "fr"})
    got = Clusterer().assign_batch([*english, french])
    assert got[-1].story_id == got[0].story_id  # shares Kremlin, Peskov with the story
    unrelated = french.model_copy(
        update={"title": "Le gouvernement annonce un nouveau budget", "summary": "Le budget de la France pour 2024."}
    )
    same_cosine = Clusterer().assign_batch([*english, unrelated])[-1]
    assert same_cosine.new_story or same_cosine.similarity < got[-1].similarity  # the names tell them apart
    # An unrelated report in another language: a cosine of 0.25 with the English story, the
    # median of such pairs in both development sets. No shared name or figure: a new story.
    unrelated = unrelated.model_copy(update={"embedding": near(centroid, 0.25, "french")})
    assert Clusterer().assign_batch([*english, unrelated])[-1].new_story


def test_duplicates_are_not_counted_twice() -> None:
    core = Clusterer()
    first = core.assign(kremlin(0))
    core.assign(kremlin(1))
    again = core.assign(kremlin(0))
    assert again.duplicate and not again.new_story
    assert again.story_id == first.story_id
    snap = core.snapshot(first.story_id)
    assert snap is not None and snap.size == 2


def test_converging_stories_merge_and_the_absorbed_id_resolves() -> None:
    core = Clusterer()
    a, b = vec("left", 0, 0.0), vec("right", 0, 0.0)
    close = mix(a, b, 1.0)  # about 0.7 from both stories
    items = [
        art("l0", "Storm floods Valencia streets", mix(a, close, 3.0)),
        art("r0", "Spanish deluge toll rises in Paiporta", mix(b, close, 3.0)),
    ]
    both = "Storm floods Valencia streets as Spanish deluge toll rises in Paiporta"
    items += [art(f"m{i}", both, close, T0 + timedelta(minutes=i + 1)) for i in range(6)]
    got = core.assign_batch(items)
    assert got[0].story_id != got[1].story_id
    changes = core.take_changes()
    merged = [s for s in changes if s.status is StoryStatus.MERGED]
    assert len(merged) == 1
    gone = merged[0]
    assert gone.merged_into is not None
    assert core.resolve(gone.id) == gone.merged_into
    survivor = core.snapshot(gone.id)
    assert survivor is not None and survivor.id == gone.merged_into
    assert gone.id in survivor.absorbed
    assert survivor.size == 8
    assert {got[0].story_id, got[1].story_id} == {gone.id, survivor.id}


def test_stories_go_dormant_after_inactivity() -> None:
    core = Clusterer(EnrichSettings(dormant_after_days=3))
    first = core.assign(kremlin(0))
    core.take_changes()
    core.assign(art("x1", "Eclipse crosses North America", vec("eclipse", 0), T0 + timedelta(days=4)))
    changes = {s.id: s for s in core.take_changes()}
    assert changes[first.story_id].status is StoryStatus.DORMANT
    assert core.active_count == 1
    assert core.snapshot(first.story_id) is None


def test_label_is_a_short_phrase_from_member_titles() -> None:
    core = Clusterer()
    items = [kremlin(i, T0 + timedelta(minutes=i)) for i in range(4)]
    got = core.assign_batch(items)
    snap = core.snapshot(got[0].story_id)
    assert snap is not None
    words = snap.label.split()
    assert 2 <= len(words) <= EnrichSettings().label_max_words
    # Cut from one member's title: any of the most similar members', not only the top three's.
    assert any(snap.label.lower() in a.title.lower() for a in items)
    assert "kremlin" in snap.label.lower()
    assert "kremlin" in snap.keywords
    assert got[-1].label == snap.label


def test_restore_from_snapshots_continues_exactly() -> None:
    items = stream() + [kremlin(i, T0 + timedelta(hours=30 + i)) for i in range(4, 7)]
    whole = [a.story_id for a in Clusterer().assign_batch(items)]
    first = Clusterer()
    part = [a.story_id for a in first.assign_batch(items[:7])]
    wire = [decode(StorySnapshot, s.to_json()) for s in first.take_changes()]
    second = Clusterer()
    second.restore(wire)
    rest = [a.story_id for a in second.assign_batch(items[7:])]
    assert part + rest == whole


def test_an_embedding_of_another_size_is_refused() -> None:
    core = Clusterer()
    core.assign(kremlin(0))
    with pytest.raises(DimensionMismatch):
        core.assign(art("odd", "Short vector", (1.0, 0.0)))


def test_thousands_of_stories_keep_their_centroids_as_the_table_grows() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((2600, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    core = Clusterer(EnrichSettings(semantic_floor=0.999, join_threshold=0.99))
    items = [art(f"g{i}", f"Item {i}", tuple(map(float, v))) for i, v in enumerate(vectors)]
    got = core.assign_batch(items)
    assert all(g.new_story for g in got) and core.active_count == 2600
    for i in (0, 1023, 1024, 2599):
        snap = core.snapshot(got[i].story_id)
        assert snap is not None
        assert np.allclose(snap.centroid, vectors[i], atol=2e-3)  # half precision


def test_empty_or_non_finite_embeddings_are_refused() -> None:
    core = Clusterer()
    with pytest.raises(InvalidEmbedding):
        core.assign(art("empty", "No vector", ()))
    # Decoding refuses such a vector (tests/unit/test_messages.py); the core checks again
    # for messages built without validation.
    bad = art("nan", "Bad vector", vec("x", 0)).model_copy(update={"embedding": (float("nan"),) * DIMS})
    with pytest.raises(InvalidEmbedding):
        core.assign(bad)
    assert core.active_count == 0


def busy_stream() -> list[EmbeddedArticle]:
    """Twenty events over three days, interleaved, and every 6 hours two stories that merge."""
    items = []
    for i in range(12):
        for e in range(20):
            when = T0 + timedelta(hours=6 * i + e % 5, minutes=e)
            v = vec(f"event{e}", i, noise=0.5)
            items.append(art(f"e{e}-{i}", f"Report {i} on event {e} in Town{e}", v, when, f"s{i % 4}.example"))
        a, b, when = vec(f"left{i}", 0, 0.0), vec(f"right{i}", 0, 0.0), T0 + timedelta(hours=6 * i)
        close = mix(a, b, 1.0)  # as in the merge test above
        flood = [art(f"l{i}", f"Flood in Valencia {i}", mix(a, close, 3.0), when)]
        flood.append(art(f"r{i}", f"Flood in Valencia {i}", mix(b, close, 3.0), when))
        flood += [art(f"m{i}-{k}", f"Flood in Valencia {i}", close, when + timedelta(minutes=k + 1)) for k in range(4)]
        for k, f in enumerate(flood):
            items.insert(len(items) - 20 + 3 * k, f)
    return items


def test_small_chunks_give_what_one_by_one_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk's pre-screen is one product; rows changed inside the chunk are redone."""
    items, settings = busy_stream(), defaults(EnrichSettings)
    by_one = Clusterer(settings)
    expected = [by_one.assign(a) for a in items]
    monkeypatch.setattr("enrich.cluster._PRESCREEN_CELLS", 7 * 40)  # chunks of a few articles
    core = Clusterer(settings)
    got = core.assign_batch(items[:100]) + core.assign_batch(items[100:])
    assert [(g.story_id, round(g.similarity, 9), g.label) for g in got] == [
        (g.story_id, round(g.similarity, 9), g.label) for g in expected
    ]


def test_a_late_report_revives_its_dormant_story_through_the_lookup() -> None:
    lookup = MemoryLookup()
    core = Clusterer(defaults(EnrichSettings).model_copy(update={"dormant_after_days": 3.0}), lookup)
    first = core.assign_batch([kremlin(0), kremlin(1, T0 + timedelta(hours=1))])
    lookup.add(core.take_changes())
    # Many newer articles move the stream's position on: the Kremlin story leaves memory.
    later = [
        art(f"x{i}", f"Eclipse crosses North America {i}", vec("eclipse", i), T0 + timedelta(days=5)) for i in range(40)
    ]
    core.assign_batch(later)
    changes = core.take_changes()
    lookup.add(changes)
    assert any(s.id == first[0].story_id and s.status is StoryStatus.DORMANT for s in changes)
    assert first[0].story_id not in core.stories and len(lookup) == 1
    # A lagging feed delivers a third report of the Kremlin incident, with its own date.
    late = core.assign(kremlin(2, T0 + timedelta(hours=5)))
    assert late.story_id == first[0].story_id and not late.new_story
    revived = {s.id: s for s in core.take_changes()}[first[0].story_id]
    assert revived.status is StoryStatus.ACTIVE and revived.size == 3


def test_one_article_from_the_future_does_not_put_the_other_stories_to_sleep() -> None:
    core = Clusterer(defaults(EnrichSettings).model_copy(update={"dormant_after_days": 3.0}))
    core.assign_batch([kremlin(i, T0 + timedelta(hours=i)) for i in range(3)])
    core.assign(art("odd", "Misdated item", vec("eclipse", 0), T0 + timedelta(days=400)))
    assert core.active_count == 2
    assert not core.assign(kremlin(3, T0 + timedelta(hours=4))).new_story


def test_any_arrival_order_gives_the_same_stories_for_separable_events() -> None:
    items = stream()[:-1]
    reference = {a.article_id: a.story_id for a in Clusterer().assign_batch(items)}
    groups = {frozenset(k for k, v in reference.items() if v == sid) for sid in reference.values()}
    for seed in range(3):
        for order in ("jitter", "backfill"):
            core = Clusterer(None, MemoryLookup())
            got = {a.article_id: core.resolve(a.story_id) for a in core.assign_batch(arrival(items, order, seed))}
            assert {frozenset(k for k, v in got.items() if v == sid) for sid in got.values()} == groups


def test_the_background_is_rebuilt_exactly_from_the_snapshots() -> None:
    first = Clusterer()
    first.assign_batch(busy_stream())
    wire = [decode(StorySnapshot, s.to_json()) for s in first.take_changes()]
    second = Clusterer()
    second.restore(wire)
    assert second.background.df == first.background.df
    assert second.background.stories == first.background.stories


def test_a_restart_in_the_middle_of_a_backfill_changes_nothing() -> None:
    """Deterministic for one arrival order, and exact across a restart: the dormant stories'
    store is rebuilt from the snapshots, as the service rebuilds it from the stories topic."""
    settings = defaults(EnrichSettings).model_copy(update={"dormant_after_days": 3.0})
    later = T0 + timedelta(days=9)
    items = busy_stream() + [
        art(f"late{e}-{i}", f"Report {i} on event {e} in Town{e}", vec(f"event{e}", 20 + i, 0.5), later)
        for e in range(20)
        for i in range(3)
    ]
    order = arrival(items, "backfill", seed=1)  # feed by feed, newest first: old reports arrive late

    def run(core: Clusterer, lookup: MemoryLookup | SqliteLookup, part: list[EmbeddedArticle]) -> list[str]:
        got: list[str] = []
        wire: list[StorySnapshot] = []
        for start in range(0, len(part), 10):
            got += [a.story_id for a in core.assign_batch(part[start : start + 10])]
            changes = [decode(StorySnapshot, s.to_json()) for s in core.take_changes()]
            lookup.add(changes)
            wire += changes
        topic.extend(wire)
        return got

    topic: list[StorySnapshot] = []
    memory = MemoryLookup()
    whole = run(Clusterer(settings, memory), memory, order)
    slept = {x.id: x.version for x in topic if x.status is StoryStatus.DORMANT}
    revived = {x.id for x in topic if x.status is StoryStatus.ACTIVE and x.version > slept.get(x.id, 1 << 30)}
    assert revived, "no story went dormant and came back: the test would not test the lookup"
    topic.clear()
    half = len(order) // 2
    first_lookup = SqliteLookup()
    got = run(Clusterer(settings, first_lookup), first_lookup, order[:half])
    first_lookup.close()
    lookup = SqliteLookup()
    restarted = Clusterer(settings, lookup)
    restarted.restore(list(topic))
    got += run(restarted, lookup, order[half:])
    assert got == whole
    lookup.close()


def test_the_cluster_stage_runs_numpys_blas_on_one_thread() -> None:
    """``one_blas_thread`` reaches the BLAS numpy actually calls (in a child: it sets the whole process)."""
    code = (
        "import numpy, threadpoolctl\n"
        "from enrich.cluster_service import one_blas_thread\n"
        "numpy.ones((64, 64)) @ numpy.ones((64, 64))\n"
        "one_blas_thread()\n"
        "print([i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[1]", out.stdout + out.stderr
