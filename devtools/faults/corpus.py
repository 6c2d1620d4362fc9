"""A synthetic stream of news articles for the fault suite and the soak run.

Invented events (an earthquake, job cuts, a port strike ...) with their own names,
places and figures; each event is reported by several outlets in varied words over a
stretch of the stream. ``make_stream(n, events, seed)`` returns the articles in release
order; ``position`` (0..1) says when in the stream each one appears. Deterministic for a
seed, so a failing run can be replayed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

OUTLETS = (
    "daily-ledger",
    "north-courier",
    "harbour-times",
    "valley-post",
    "metro-herald",
    "coast-gazette",
    "river-tribune",
    "plains-observer",
    "summit-news",
    "capital-wire",
)

_PLACES = (
    "Varnholt",
    "Ostrava Bay",
    "Kellmark",
    "Lindqvist",
    "Port Ardan",
    "Mirefield",
    "Tolvaro",
    "Branske",
    "Quillon",
    "Hesketh",
    "Sarnow",
    "Eldermoor",
    "Castavel",
    "Ruskin Falls",
    "Davenholm",
    "Pellara",
    "Norwick",
    "Umberlee",
    "Fenwater",
    "Kostrava",
    "Ashgrove",
    "Trelling",
    "Marisol Point",
)
_PEOPLE = (
    "Anneke Marsh",
    "Tobias Frel",
    "Ines Cardo",
    "Rolf Habicht",
    "Maren Oduya",
    "Piet Lorenz",
    "Sofia Vantaggi",
    "Hamid Rostan",
    "Clara Weyl",
    "Jonas Ekdahl",
    "Lucia Perrin",
    "Oskar Brandt",
)
_COMPANIES = (
    "Keltron Motors",
    "Aurel Chemicals",
    "Brightway Rail",
    "Nordvik Steel",
    "Solace Pharma",
    "Tamarind Foods",
    "Orbis Telecom",
    "Halden Shipping",
    "Quarry Point Energy",
    "Velvet Air",
)

# (title variants, body sentences); {p} place, {q} person, {c} company, {n} {m} figures
_KINDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        (
            "Magnitude {m}.{n1} earthquake strikes near {p}",
            "Earthquake of magnitude {m}.{n1} shakes {p}",
            "{p} hit by {m}.{n1} quake, buildings damaged",
        ),
        (
            "Seismologists recorded the tremor at a depth of {n} kilometres.",
            "Residents of {p} left their homes as aftershocks continued.",
            "Mayor {q} said shelters were open.",
        ),
    ),
    (
        (
            "{c} to cut {n} jobs at its {p} plant",
            "{c} announces {n} job cuts in {p}",
            "Workers in {p} face {n} layoffs at {c}",
        ),
        (
            "The company blamed falling orders for the cuts.",
            "Union leader {q} called the decision a betrayal.",
            "The {p} site employs about {m}000 people.",
        ),
    ),
    (
        (
            "Fire at {p} warehouse injures {n}",
            "{n} hurt as blaze tears through {p} depot",
            "Firefighters battle warehouse fire in {p}",
        ),
        (
            "More than {m}0 firefighters were called to the scene.",
            "Chief officer {q} said the cause is unknown.",
            "Smoke could be seen across {p} for hours.",
        ),
    ),
    (
        (
            "Dock workers strike halts port of {p}",
            "Strike at {p} port strands {n} containers",
            "{p} harbour shut as {n} dockers walk out",
        ),
        (
            "The union demands a {m} percent pay rise.",
            "Negotiator {q} said talks would resume on Monday.",
            "Shipping lines diverted vessels away from {p}.",
        ),
    ),
    (
        (
            "{q} elected mayor of {p} with {n} percent",
            "{p} picks {q} as mayor after tight race",
            "{q} wins {p} mayoral vote",
        ),
        (
            "Turnout reached {m}0 percent, officials said.",
            "{q} promised to fix the transit system.",
            "The result in {p} surprised pollsters.",
        ),
    ),
    (
        (
            "{c} recalls {n} cars over brake fault",
            "Brake defect forces {c} recall of {n} vehicles",
            "{c} issues recall for {n} models",
        ),
        (
            "Owners will be contacted by dealers in {p} and elsewhere.",
            "Spokesperson {q} said no injuries were reported.",
            "The fault affects models built since {m}.",
        ),
    ),
    (
        (
            "Train derails near {p}, {n} injured",
            "{n} hurt in {p} rail derailment",
            "Passenger train leaves tracks outside {p}",
        ),
        (
            "{c} said the line will stay closed for {m} days.",
            "Investigator {q} is examining the signals.",
            "Buses replaced trains between {p} and the coast.",
        ),
    ),
    (
        (
            "Floods force {n} from homes in {p}",
            "{p} flooding displaces {n} residents",
            "River bursts banks in {p}, {n} evacuated",
        ),
        (
            "Rainfall of {m}0 millimetres fell in a day.",
            "Emergency chief {q} warned of more rain.",
            "Roads around {p} remain under water.",
        ),
    ),
    (
        ("{c} chief {q} resigns after audit", "{q} steps down as head of {c}", "Audit findings topple {c} boss {q}"),
        (
            "The audit found {n} million in unexplained payments.",
            "Shares of {c} fell {m} percent.",
            "The board met in {p} on Tuesday.",
        ),
    ),
    (
        (
            "{p} hospital staff walk out over pay",
            "Nurses strike at {p} general hospital",
            "{n} hospital workers strike in {p}",
        ),
        (
            "Only emergency care is running, manager {q} said.",
            "The staff want a {m} percent raise.",
            "Patients in {p} were told to expect delays.",
        ),
    ),
)

_FILLER = (
    "Officials are expected to give more details later.",
    "Local media reported the news first.",
    "The situation is still developing.",
    "Witnesses described scenes of confusion.",
    "Further updates will follow.",
    "Authorities urged people to follow official guidance.",
)


@dataclass(frozen=True)
class StreamArticle:
    n: int  # position in the stream, also the article's URL slug
    event: int
    outlet: str
    title: str
    body: str
    position: float  # 0..1: when in the stream it is released


def _event_slots(rng: random.Random) -> dict[str, str]:
    return {
        "p": rng.choice(_PLACES),
        "q": rng.choice(_PEOPLE),
        "c": rng.choice(_COMPANIES),
        "n": str(rng.randint(12, 990)),
        "n1": str(rng.randint(1, 9)),
        "m": str(rng.randint(3, 8)),
    }


def make_stream(n: int, events: int = 200, seed: int = 7) -> list[StreamArticle]:
    """``n`` articles about ``events`` invented events, in release order."""
    rng = random.Random(seed)
    # A skewed size per event (a few big stories, many small ones), at least one article each.
    weights = [1.0 / (1 + i) ** 0.8 for i in range(events)]
    sizes = [1] * events
    for i in rng.choices(range(events), weights=weights, k=max(0, n - events)):
        sizes[i] += 1
    drafts: list[tuple[float, int, str, str, str]] = []
    for ev, size in enumerate(sizes):
        titles, facts = _KINDS[ev % len(_KINDS)]
        slots = _event_slots(rng)
        start = rng.uniform(0.0, 0.85)
        for _ in range(size):
            title = rng.choice(titles).format(**slots)
            sentences = [s.format(**slots) for s in rng.sample(facts, k=rng.randint(2, 3))]
            sentences.insert(rng.randint(0, len(sentences)), rng.choice(_FILLER))
            body = f"{title}. " + " ".join(sentences)
            drafts.append((start + rng.uniform(0.0, 0.15), ev, rng.choice(OUTLETS), title, body))
    drafts.sort(key=lambda d: d[0])
    return [
        StreamArticle(i, ev, outlet, title, body, min(1.0, pos))
        for i, (pos, ev, outlet, title, body) in enumerate(drafts)
    ]
