"""The titles a story's names are cut from (``StoryState.add_title``): bounded, the most similar
members', a slug's cased from its text, and restored exactly from the snapshot."""

from __future__ import annotations

from datetime import UTC, datetime

from devtools.samples import article
from enrich.scoring import Background
from enrich.story_state import NAMING_TITLES, StoryState, Top, to_micros
from storywire.messages import StoryRestore, StorySnapshot, decode

T0 = datetime(2024, 8, 9, 12, tzinfo=UTC)


def story_with(titles: list[tuple[str, float]], content: str = "") -> StoryState:
    st = StoryState("st-1", to_micros(T0))
    for n, (title, sim) in enumerate(titles):
        a = article(n, title=title, content=content, language="en")
        st.members.append(a.id)
        st.add_language(a.language)
        st.add_title(a, sim)
        st.add_top(Top(sim, a.id, a.title, a.url, a.source, to_micros(T0), a.language), 3)
        st.version += 1
    return st


def test_the_namer_reads_the_most_similar_members_titles_and_no_more() -> None:
    st = story_with([(f"Quake report number {n}", 0.5 + n / 100) for n in range(NAMING_TITLES + 4)])
    assert len(st.titles) == NAMING_TITLES
    assert [t.similarity for t in st.titles] == sorted(
        (0.5 + n / 100 for n in range(4, NAMING_TITLES + 4)), reverse=True
    )
    late = article(99, title="Quake report of little weight")
    assert st.add_title(late, 0.1) is False  # not among the most similar: nothing to relabel
    assert st.add_title(article(98, title="Quake report, the closest yet"), 0.99) is True
    assert st.titles[0].title == "Quake report, the closest yet"


def test_a_slug_title_is_cased_from_its_text_when_the_member_joins() -> None:
    text = "The plane of Voepass Linhas Aéreas fell in Vinhedo, in the interior of São Paulo state, officials said."
    st = story_with([("Aviao da voepass linhas aereas cai em vinhedo", 1.0)], content=text)
    assert st.titles[0].title == "Aviao da Voepass Linhas Aéreas cai em Vinhedo"
    assert st.titles[0].slug


def test_titles_survive_a_restart_exactly() -> None:
    st = story_with([("Hurricane Idalia makes landfall in Florida", 1.0), ("Idalia makes landfall as Cat 3", 0.9)])
    st.relabel(Background().idf, 8, 6)
    wire = st.snapshot(None, T0, 100).to_json()
    back = StoryState.from_snapshot(decode(StorySnapshot, wire))
    assert back.titles == st.titles
    back.relabel(Background().idf, 8, 6)
    assert (back.label, back.headline) == (st.label, st.headline)


def test_a_story_from_an_older_snapshot_is_named_from_its_top_articles() -> None:
    st = story_with([("Storm Oriel batters coast", 1.0), ("Storm Oriel: red warning issued", 0.9)])
    old = st.snapshot(None, T0, 100)
    restore = old.restore or StoryRestore()
    older = old.model_copy(update={"restore": restore.model_copy(update={"titles": ()})})
    back = StoryState.from_snapshot(older)
    assert back.titles == ()
    assert [t.title for t in back.naming_titles()] == [a.title for a in old.top_articles]
    # The first member that joins after the restart adds to those titles, not to an empty pool.
    back.add_title(article(7, title="Storm Oriel sweeps in"), 0.95)
    assert len(back.titles) == 3


def test_a_naming_title_written_by_a_newer_clusterer_with_more_items_is_read() -> None:
    st = story_with([("Storm Oriel batters coast", 1.0)])
    wire = st.snapshot(None, T0, 100).to_json().replace(b"false]]", b'false,"later"]]')
    back = decode(StorySnapshot, wire)
    assert back.restore is not None and back.restore.titles[0].title == "Storm Oriel batters coast"


def test_a_merged_story_brings_its_titles() -> None:
    keep = story_with([("Fed holds interest rates steady", 0.9)])
    gone = story_with([("Fed leaves interest rates unchanged", 0.95)])
    keep.merge_titles(gone.naming_titles())
    assert [t.title for t in keep.titles] == ["Fed leaves interest rates unchanged", "Fed holds interest rates steady"]
