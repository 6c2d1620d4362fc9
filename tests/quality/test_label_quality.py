"""Story names on both labelled dev sets, judged apart from the clustering.

Each gold event of two or more articles is built as the clusterer builds a story (its members
in publication order: terms, naming title cased from the text, top articles), with the inverse
story frequency over all the set's events, and named. Every label must name its event: hold who
or where and what happened (the table below, one pair of patterns per event, written from the
event's description), have two to six words and not end on a function word or a word that
needs a complement. Skips when ../shared/eval is absent; ``storywire eval DATA --labels``
prints the labels of the stories the clusterer itself makes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from enrich.eval import load_dataset
from enrich.features import article_terms
from enrich.scoring import Background
from enrich.settings import EnrichSettings
from enrich.story_state import StoryState, Top, to_micros
from storywire.messages import Article

pytestmark = pytest.mark.quality

# event -> (who or where, what happened): the label must match both (case-insensitive).
EVENTS = {
    "apple-iphone14-launch-2022-09-07": (r"iPhone 14", r"unveil|launch|announc"),
    "hurricane-ian-2022-09-28": (r"\bIan\b", r"landfall"),
    "crimea-bridge-blast-2022-10-08": (r"Crimea", r"explosion|blast"),
    "turkey-syria-earthquake-2023-02-06": (r"Turkey", r"earthquake"),
    "svb-collapse-2023-03-10": (r"Silicon Valley Bank|SVB", r"collapse|shut|seized"),
    "ubs-credit-suisse-2023-03-19": (r"UBS.*Credit Suisse", r"buy|takes over|acquire|rescue"),
    "kakhovka-dam-2023-06-06": (r"Kherson|Kakhovka|dam", r"evacuat|flood|destroy|flee"),
    "titan-submersible-2023-06-22": (r"Titan|\bsub\b|submersible|OceanGate", r"implosion|debris|loss|dead"),
    "crimea-bridge-drones-2023-07-17": (r"Crimea", r"attack|drone"),
    "chandrayaan3-landing-2023-08-23": (r"Chandrayaan|India", r"land|history|historic"),
    "hurricane-idalia-2023-08-30": (r"Idalia", r"landfall"),
    "morocco-earthquake-2023-09-08": (r"Maroc|Morocco", r"séisme|earthquake"),
    "apple-iphone15-launch-2023-09-12": (r"iPhone 15", r"unveil|launch|USB-C"),
    "herat-earthquake-2023-10-07": (r"Afghanistan|Herat", r"earthquake"),
    "hurricane-otis-2023-10-25": (r"Otis", r"batter|landfall|hit|ravage"),
    "noto-earthquake-2024-01-01": (r"Noto|Japan", r"earthquake"),
    "taiwan-hualien-earthquake-2024-04-03": (r"Taiwan", r"earthquake"),
    "apple-iphone16-launch-2024-09-09": (r"iPhone 16", r"debut|launch|unveil|introduc"),
    "hurricane-helene-2024-09-26": (r"Helene", r"landfall"),
    "hurricane-milton-2024-10-09": (r"Milton", r"landfall"),
    "czech-presidential-first-round-2023-01-14": (r"Pavel|Babi", r"edges|first round|runoff|compete|advance"),
    "dnipro-missile-strike-2023-01-14": (r"Dnipro", r"strike|missile|attack|raketen|morti"),
    "goshen-shooting-2023-01-16": (r"California|Goshen", r"shooting"),
    "boj-holds-ycc-2023-01-18": (r"BOJ|Bank of Japan", r"keeps|unchanged|holds|maintains|stands pat"),
    "brovary-helicopter-crash-2023-01-18": (r"Kyiv|Brovary|helicopter", r"crash"),
    "microsoft-layoffs-2023-01-18": (r"Microsoft", r"jobs|cut|layoff"),
    "google-layoffs-2023-01-20": (r"Google|Alphabet", r"jobs|layoff|cut"),
    "monterey-park-shooting-2023-01-21": (r"Monterey Park|Lunar New Year", r"shooting|massacre"),
    "half-moon-bay-shooting-2023-01-23": (r"Half Moon Bay", r"shooting|killing"),
    "spotify-layoffs-2023-01-23": (r"Spotify", r"layoff|workforce|lay off"),
    "germany-leopard-tanks-decision-2023-01-25": (r"Leopard", r"send|supply"),
    "jenin-raid-2023-01-26": (r"Jenin|Palestinian|West Bank", r"kill|raid"),
    "ukraine-missile-barrage-2023-01-26": (r"Ukrain|Russ", r"missile|attack"),
    "neve-yaakov-synagogue-attack-2023-01-27": (r"Jerusalem|synagogue", r"shooting|attack|killed"),
    "czech-presidential-runoff-2023-01-28": (r"Pavel", r"wins|elected"),
    "saurya-airlines-crash-2024-07-24": (r"Saurya|Nepal|Kathmandu", r"crash"),
    "shukr-killed-beirut-2024-07-30": (r"Hezbollah", r"kill|strike"),
    "boj-hike-2024-07-31": (r"BOJ|Bank of Japan", r"rais|hike"),
    "fed-hold-2024-07-31": (r"\bFed\b", r"holds|leaves|unchanged|steady"),
    "haniyeh-killed-tehran-2024-07-31": (r"Haniyeh", r"killed|dies"),
    "boe-cut-2024-08-01": (r"Bank of England|BoE", r"cut"),
    "hasina-resigns-flees-2024-08-05": (r"Hasina|Bangladesh", r"resign"),
    "nikkei-crash-2024-08-05": (r"Nikkei|Japan", r"plunge|sink|tumble|dive|crash"),
    "nikkei-rebound-2024-08-06": (r"Nikkei|Tokyo", r"rebound|soar|rall|surge"),
    "kursk-incursion-2024-08-06": (r"Kursk", r"incursion|break into|attack|offensive"),
    "voepass-crash-2024-08-09": (r"Vinhedo|Voepass|São Paulo", r"\bcai\b|crash|queda"),
}
# A label ending on one of these is cut mid-phrase.
_CUT_TEXT = """a an the of to and or but for in on at by with from into as is are was were be has have had will
    would can could may which who that this its it his her their amid after before says said new more than
    about de la le les du des et au en el los las del y o da do das dos em no na der die und von zu im mit"""
CUT = frozenset(_CUT_TEXT.split())


def name_events(groups: dict[str, list[Article]]) -> dict[str, StoryState]:
    """Each group of articles (publication order) built and named as the clusterer would."""
    settings = EnrichSettings()
    background = Background()
    states = {}
    for event, articles in groups.items():
        st = StoryState(event, to_micros(articles[0].published))
        for n, a in enumerate(articles):
            sim = 1.0 if n == 0 else 0.9 - 0.01 * n
            st.members.append(a.id)
            st.add_language(a.language)
            st.add_terms(article_terms(a, settings.lead_chars), settings.profile_terms)
            st.add_title(a, sim)
            st.add_top(Top(sim, a.id, a.title, a.url, a.source, to_micros(a.published), a.language), 3)
        background.add(st.terms)
        background.stories += 1
        states[event] = st
    for st in states.values():
        st.relabel(background.idf, settings.keywords, settings.label_max_words)
    return states


def problems(event: str, label: str) -> list[str]:
    who, what = EVENTS[event]
    words = label.split()
    out = []
    if not 2 <= len(words) <= 6:
        out.append("not two to six words")
    if words and (words[-1].lower().strip(",:") in CUT or label.endswith((",", ":"))):
        out.append("cut mid-phrase")
    if not re.search(who, label, re.IGNORECASE):
        out.append("says not who or where")
    if not re.search(what, label, re.IGNORECASE):
        out.append("says not what happened")
    return out


@pytest.mark.parametrize("name", ["dev.jsonl", "dev2.jsonl"])
def test_every_event_gets_a_label_that_names_it(name: str, shared_dir: Path) -> None:
    path = shared_dir / "eval" / name
    if not path.is_file():
        pytest.skip(f"../shared/eval/{name} is not present")
    groups: dict[str, list[Article]] = defaultdict(list)
    for item in load_dataset(path):  # publication order
        groups[item.event].append(item.article)
    named = {e: st for e, st in name_events(groups).items() if len(st.members) >= 2}
    assert not set(named) - set(EVENTS), "an event of the set is missing from the table"
    bad = {e: (st.label, problems(e, st.label)) for e, st in named.items() if problems(e, st.label)}
    assert not bad, bad
