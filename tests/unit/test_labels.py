"""Story names (``enrich.labels``): a table of member titles and the label they must give.

The weights are what the clusterer's profile holds for titles alone (``features.terms``
summed over the members), so each case is the namer's whole input. The titles are the
ones the issue quoted as cut pieces ("Apple Unveils iPhone 15 Which Eliminates", "Coast
guard titan submersible suffered catastrophic", ...), the bundled demo's, and the stories
whose labels still failed on the two development sets ("Andrej Babis to Compete", "Dead
in Helicopter Crash Near Kyiv", "Japan unexpectedly raised the interest rate", ...).
A title taken from a URL slug is given as ``label_casing.naming_title`` cases it from its
article's text when the member joins (``slug=True``); ``test_label_casing`` covers that step.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from devtools.demo.corpus import load_demo_articles
from devtools.samples import article
from enrich.features import article_terms, terms
from enrich.labels import Member, clean_title, name_story
from enrich.scoring import Background
from enrich.settings import EnrichSettings
from enrich.story_state import StoryState, Top, to_micros


def _member(i: int, m: str | tuple[str, ...]) -> Member:
    sim = 0.9 - 0.05 * i
    if isinstance(m, str):
        return Member(m, sim)
    title, lang, *slug = m
    return Member(title, sim, lang or None, slug=bool(slug))


def names(*members: str | tuple[str, ...]) -> tuple[str, str]:
    given = [_member(i, m) for i, m in enumerate(members)]
    weights: Counter[str] = Counter()
    for m in given:
        weights.update(terms(m.title, ""))
    got = name_story(given, dict(weights))
    return got.label, got.headline


SLUG = "slug"  # a title whose casing was read from its text

CASES = [
    # -------------------------------------------------------------- the cut pieces
    (
        [
            "Apple Unveils iPhone 15, Which Eliminates Lightning Port",
            ("Apple brings USB-C ports better cameras to the iPhone 15 lineup", "", SLUG),
            "Apple Unveils iPhone 15 and Switches to USB-C Charger",
        ],
        "Apple Unveils iPhone 15",
    ),
    (
        [
            ("Coast Guard Titan submersible suffered catastrophic loss debris found near Titanic wreck", "", SLUG),
            "Titan submersible search",
            "Titanic sub: crew believed dead after ‘catastrophic implosion’ – US Coast Guard",
        ],
        "Titanic sub: crew believed dead",
    ),
    (
        [
            "India's Chandrayaan-3 Makes History with Successful Landing on Moon",
            ("Chandrayaan-3 LIVE Updates ISRO Moon soft-landing telecast south pole Vikram lander", "", SLUG),
            "India's Third Lunar Mission Makes History",
            ("Chandrayaan-3 India's historic landing on the Moon's south pole", "", SLUG),
        ],
        "Chandrayaan-3 India's historic landing",
    ),
    (
        [
            "Fed holds interest rates steady, but cut expected soon",
            "Interest Rates Remain Steady Once Again — But the Fed Could Cut Rates in September",
            "Fed leaves interest rates unchanged, suggests cuts to come in September",
        ],
        # A title's capitals no longer weigh as names (issue #19: title case is style); with
        # every title's words weighed alike the namer takes the third title's phrase. Both
        # phrasings name the event.
        "Fed leaves interest rates unchanged",
    ),
    (
        [
            "Bangladesh’s Prime Minister Resigns Amid Nationwide Unrest",
            "Bangladesh Prime Minister Sheikh Hasina resigns and flees",
            ("Sheikh Hasina resigns protestors storm Prime Minister's residence Bangladesh media", "", SLUG),
        ],
        "Bangladesh’s Prime Minister Resigns",
    ),
    (
        [
            ("Avião cai no meio de cidade do interior de São Paulo", "pt", SLUG),
            ("Aviao das Voepass Linhas Aéreas cai em Vinhedo no Interior de São Paulo", "pt", SLUG),
            ("All 61 aboard killed as plane crashes near Sao Paulo", "en"),
        ],
        "Aviao das Voepass Linhas Aéreas cai",
    ),
    (
        [
            ("Difficult but necessary Microsoft CEO Satya Nadella on sacking 10,000 employees", "", SLUG),
            ("Microsoft to cut about 10,000 jobs", "", SLUG),
            ("Microsoft to shed 10,000 jobs adding to glut of tech layoffs", "", SLUG),
            "A message from Satya Nadella to Employees on Microsoft’s job cuts",
        ],
        "Microsoft to cut about 10,000 jobs",
    ),
    # -------------------------------------------------------------- the bundled demo
    (
        [
            "46,000 homes without power as Storm Oriel batters coast",
            "Storm Oriel: red warning issued for northern coast",
            "Driver killed by falling tree as Storm Oriel sweeps in",
        ],
        "Storm Oriel batters coast",
    ),
    (
        [
            "Safety regulator opens inquiry into Kestrel Freight warehouse deaths",
            "Port of Bremly shut to shipping after deadly Kestrel Freight fire",
            "Two dead in chemical warehouse fire at Bremly docks",
        ],
        "Deadly Kestrel Freight fire",
    ),
    (
        [
            "Huge blaze guts Ostrand Logistics warehouse on Port Calder's Quay Road",
            "Port Calder residents told to keep windows shut as warehouse fire burns",
            "Fourteen hours to tame Quay Road inferno, fire chief says",
        ],
        "Huge blaze guts Ostrand Logistics warehouse",
    ),
    (
        [
            "Russia says it downed two Ukrainian drones aimed at the Kremlin",
            "Video shows flash above Kremlin dome after drone attack",
            "Kremlin drone incident: what we know",
        ],
        "Kremlin drone incident",
    ),
    (
        [
            "Drone Attack on Kremlin May Further Escalate Conflict with Ukraine",
            "Russia says Kremlin drone attack was an attempt on Putin's life",
        ],
        "Drone Attack on Kremlin",
    ),
    (
        [
            ("Séisme au Maroc au moins 820 morts selon un nouveau bilan", "fr", SLUG),
            ("Séisme au Maroc au moins 820 morts et de nombreux disparus", "fr", SLUG),
            ("300 people die in earthquake night in Morocco", "en", SLUG),
        ],
        "Séisme au Maroc",
    ),
    # -------------------------------------------------------------- what still failed on the dev sets
    (
        [
            (
                "Pavel and Babiš advanced to the second round of the presidential elections in the Czech republic",
                "",
                SLUG,
            ),
            "Petr Pavel, Andrej Babis to Compete for Czech Presidency in Runoff",
            ("Pavel edges Babis in first round of Czech presidential vote", "", SLUG),
            "Ex-premier Babis leads Czech presidential election -partial results",
        ],
        "Pavel edges Babis",
    ),
    (
        [
            ("Dnipro in der Ukraine unter Raketenbeschuss mindestens 17 tote Menschen auch Kinder", "de", SLUG),
            ("Dnipro 12 morti ma si cercano 26 persone tra macerie", "it", SLUG),
        ],
        "Dnipro in der Ukraine unter Raketenbeschuss",
    ),
    (
        [
            "Police Say Ukraine Interior Minister Among Dead in Helicopter Crash Near Kyiv",
            ("Ukraine Kyiv helicopter crash Vitali Klitschko", "", SLUG),
            ("Quem era Monastyrsky o ministro ucraniano morto em queda de helicóptero", "pt", SLUG),
        ],
        "Helicopter Crash Near Kyiv",
    ),
    (
        [
            ("La dernière attaque de missiles de la Russie a tué 11 personnes et endommagé les infrastructures", "fr"),
            ("Ukraine wakes up to deadly attacks after securing battle tanks", "en", SLUG),
        ],
        "Attaque de missiles de la Russie",
    ),
    (
        [
            "Sirens across Ukraine as authorities report Russian attacks",
            "Russia launches wave of missile, drone attacks: Ukrainian officials",
            ("Ukraine wakes up to deadly attacks after securing battle tanks", "", SLUG),
            "Russian missiles kill 11 in Ukraine after U.S., Germany promise tanks",
        ],
        "Russian missiles kill 11 in Ukraine",
    ),
    (
        [
            ("Retired Czech army general Pavel wins presidential election", "", SLUG),
            ("Retired NATO general Petr Pavel wins Czech presidential vote", "", SLUG),
            ("Retired army general Petr Pavel wins election to become Czech President", "", SLUG),
            ("Retired gen Pavel elected as new president of Czech Republic", "", SLUG),
        ],
        "Petr Pavel wins Czech presidential vote",
    ),
    (
        [
            "The Bank of Japan unexpectedly raised the interest rate by 0.15%",
            ("Bank of Japan raises key interest rate", "", SLUG),
            "Bank of Japan decides to raise policy interest rate to around 0.25 percent",
            "BOJ raises interest rates, lays out bond taper plan",
        ],
        "BOJ raises interest rates",
    ),
    (
        [
            "Ukrainian fighters try to break into Russia's Kursk region, shell civilians",
            ("Ukrainian forces penetrate into Russian territory conquering several villages", "", SLUG),
            "Russia says fighting continues in Ukrainian incursion into Kursk region",
        ],
        "Ukrainian incursion into Kursk region",
    ),
    (
        [
            "Part of strategic bridge linking Russia and Crimea destroyed by huge explosion",
            "Crimea bridge: Fire and smoke seen after reports of an explosion",
            "Crimea bridge video shows moment of huge explosion",
            ("Crimea bridge disabled blast fire", "", SLUG),
            ("Putin signs decree to tighten security for Crimea bridge after explosion", "", SLUG),
        ],
        "Crimea bridge after explosion",
    ),
    (
        [
            "Bank of England makes first interest rate cut since pandemic in nail-bitingly close vote",
            ("BoE cuts Bank Rate by 25bps to 5.00 in 5-4 tight vote", "", SLUG),
            ("Bank England cut interest rates pandemic", "", SLUG),
            "Bank of England cuts interest rate to 5%, in first drop for over four years",
        ],
        "Bank of England cuts interest rate",
    ),
]


@pytest.mark.parametrize(("titles", "label"), CASES, ids=[c[1] for c in CASES])
def test_the_label_is_a_phrase_that_names_the_event(titles: list[str | tuple[str, ...]], label: str) -> None:
    got, headline = names(*titles)
    assert got == label
    assert 2 <= len(got.split()) <= 6
    assert headline  # a full title of one member


def test_the_label_never_ends_on_a_function_word_or_a_verb_missing_its_object() -> None:
    got, _ = names("Russian strike on Dnipro kills at least 5, injures 27 people", "Dnipro strike kills 5")
    assert got.split()[-1].lower() not in {"kills", "on", "at"}
    assert "Dnipro" in got


def test_a_story_is_named_in_the_language_most_of_its_members_are_written_in() -> None:
    got, headline = names(
        ("All 61 aboard killed as plane crashes near Sao Paulo", "en"),
        ("Aviao das voepass linhas aereas cai em vinhedo no interior de sao paulo", "pt"),
        ("Aviao cai em vinhedo no interior de sao paulo", "pt"),
    )
    assert "aboard" not in got and "aboard" not in headline
    assert headline.startswith("Aviao")


def test_headline_is_the_full_title_without_outlet_suffix_or_furniture() -> None:
    assert clean_title("Fed raises rates by 75 basis points - Reuters") == "Fed raises rates by 75 basis points"
    assert clean_title("Storm hits the coast | BBC News") == "Storm hits the coast"
    assert clean_title("BREAKING: Quake strikes Alcaria old town") == "Quake strikes Alcaria old town"
    assert (
        clean_title("Helene tearing through Georgia; 6 dead: Live updates") == "Helene tearing through Georgia; 6 dead"
    )
    assert clean_title("Huge blaze at docks - nytimes.com") == "Huge blaze at docks"
    assert clean_title("Storm Oriel - what we know") == "Storm Oriel - what we know"  # not an outlet
    assert clean_title("Quake hits town - Reuters", source="reuters.com") == "Quake hits town"


def test_a_flat_title_takes_its_casing_from_the_other_titles() -> None:
    got, _ = names(
        "Hurricane idalia makes landfall in florida",
        "Hurricane Idalia makes landfall in North Florida as a Category 3 storm",
        "Idalia makes landfall in the Florida Big Bend as a Cat 3",
    )
    assert got.startswith("Hurricane Idalia makes landfall")


def test_a_name_of_two_parts_is_not_cut_at_its_dash_nor_at_a_comma_between_names() -> None:
    got, _ = names(
        "Greens quit Varga government over Varna–Kessel pipeline",
        "Estrian bond yields jump as Varga coalition falls apart",
    )
    assert "Varna" not in got or "Varna–Kessel" in got
    got, _ = names(
        "Hurricane Helene Makes Landfall As Category 4 Near Perry, Florida",
        "Hurricane Helene makes landfall near Perry, Florida",
    )
    assert not got.endswith(("Perry", "Perry,"))


def test_names_are_deterministic_and_empty_without_titles() -> None:
    titles = ["Quillon Health confirms breach of 2.3 million patient records", "Quillon shares slide 14% after breach"]
    assert names(*titles) == names(*titles)
    assert name_story([], {}).label == ""


# The bundled demo's stories: (who or where, what happened) each label must hold.
DEMO = {
    "fire-port-calder": (r"Ostrand|Port Calder|Quay Road", r"blaze|fire|inferno"),
    "northline-rail-strike": (r"Northline", r"strike"),
    "kelvar-9b-water": (r"Kelvar", r"water"),
    "estria-rate-rise": (r"Estria", r"rate"),
    "quillon-data-breach": (r"Quillon", r"breach|leak|hack"),
    "storm-oriel": (r"Oriel", r"batter|sweep|hit|warning"),
    "national-cup-final": (r"Fenwick|Rovers|National Cup", r"stun|win|final|lift"),
    "estria-coalition-collapse": (r"Varga|Estria", r"quit|collapse|falls apart|loses majority"),
    "fire-bremly-docks": (r"Bremly|Kestrel", r"fire|blaze|deaths"),
    "quake-serrano-valley": (r"Serrano|Alcaria", r"earthquake|quake"),
}


def test_the_demo_stories_are_named_by_their_events() -> None:
    """Each demo story built member by member as the clusterer builds it, then named."""
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    settings = EnrichSettings()
    states: dict[str, StoryState] = {}
    background = Background()
    for n, d in enumerate(sorted(load_demo_articles(), key=lambda d: d.published_at(start))):
        st = states.setdefault(d.story, StoryState(d.story, to_micros(d.published_at(start))))
        a = article(n, title=d.title, content=d.summary, language=d.outlet.language, source=d.outlet.host)
        sim = 1.0 if not st.members else 0.9 - 0.01 * len(st.members)
        st.members.append(a.id)
        st.add_language(a.language)
        st.add_terms(article_terms(a, settings.lead_chars), settings.profile_terms)
        st.add_title(a, sim)
        st.add_top(Top(sim, a.id, a.title, a.url, a.source, to_micros(a.published), a.language), 3)
    for st in states.values():
        background.add(st.terms)
        background.stories += 1
    named = {}
    for story, st in states.items():
        st.relabel(background.idf, settings.keywords, settings.label_max_words)
        named[story] = st.label
    for story, (who, what) in DEMO.items():
        label = named[story]
        assert re.search(who, label) and re.search(what, label, re.IGNORECASE), (story, label)
        assert 2 <= len(label.split()) <= 6
