"""Synthetic news for bench/e2e.py: invented events with invented names, places and figures.

``synthetic_article(k)`` is deterministic in ``k``: about four events are live at any
time, each with several articles over time, so the clusterer has real work to do.
"""

from __future__ import annotations

import random

_SYL = ["mar", "ven", "tor", "del", "os", "ka", "lin", "bre", "sun", "vo", "rha", "quel", "dan", "ith", "por", "zel"]
_FIRST = ["Amira", "Jonas", "Lucia", "Tomasz", "Ngozi", "Pieter", "Hana", "Rafael", "Ines", "Kofi", "Mei", "Oskar"]
_LAST = ["Varga", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Delgado", "Novak", "Haddad", "Brennan", "Sato"]
_ORG = ["Helix Dynamics", "Northwind Freight", "Calder Mining", "Orbis Telecom", "Meridian Bank", "Vantor Labs"]

# kind -> (title templates, body sentences); {p} place, {who} person, {org}, {n} figure, {m} second figure
_KINDS: dict[str, tuple[list[str], list[str]]] = {
    "fire": (
        [
            "Fire at {org} depot in {p} injures {n}",
            "{n} hurt as blaze tears through {p} warehouse district",
            "{who} says cause of {p} fire still unknown",
        ],
        [
            "Firefighters fought the blaze at the {org} depot in {p} for {m} hours.",
            "{n} people were taken to hospital with smoke inhalation, officials said.",
            "Fire chief {who} said investigators would examine the electrical system.",
            "Residents of {p} were told to keep windows closed overnight.",
        ],
    ),
    "flood": (
        [
            "Flash floods in {p} force {n} from their homes",
            "{p} river bursts its banks after {m} hours of rain",
            "{who} declares emergency as {p} floods spread",
        ],
        [
            "Heavy rain sent the river through the centre of {p}, cutting {m} roads.",
            "About {n} residents were evacuated to schools and sports halls.",
            "Mayor {who} declared a local emergency and asked for army help.",
            "Forecasters expect more rain over {p} later this week.",
        ],
    ),
    "strike": (
        [
            "{n} workers walk out at {org} plant in {p}",
            "Strike halts production at {org} {p} site",
            "{who} says {org} strike in {p} could last {m} days",
        ],
        [
            "Union leader {who} said {n} members joined the walkout at {org} in {p}.",
            "The dispute is over a pay offer of {m} percent, which the union rejected.",
            "{org} said talks would resume on Thursday with a mediator.",
            "Production lines in {p} stood still for the first time in a decade.",
        ],
    ),
    "trial": (
        [
            "{who} trial opens in {p} over {org} fraud",
            "Prosecutors seek {m} years for {who} in {p} court",
            "{p} court hears {org} accounts were falsified",
        ],
        [
            "The trial of former {org} executive {who} opened in {p} on Monday.",
            "Prosecutors say {n} million was moved through shell companies.",
            "{who} denies all charges and is expected to testify next week.",
            "The court in {p} scheduled {m} days of hearings.",
        ],
    ),
    "launch": (
        [
            "{org} launches satellite from {p} spaceport",
            "{p} rocket launch puts {n} satellites in orbit",
            "{who} hails {org} launch from {p} as milestone",
        ],
        [
            "A rocket operated by {org} lifted off from {p} carrying {n} small satellites.",
            "The launch had been delayed {m} times by weather.",
            "Chief engineer {who} said all payloads separated as planned.",
            "The {p} spaceport plans another launch within weeks.",
        ],
    ),
    "quake": (
        [
            "Magnitude {m}.{n} earthquake strikes near {p}",
            "Quake near {p} damages {n} buildings",
            "{who} leads rescue effort after {p} earthquake",
        ],
        [
            "The earthquake struck {m} kilometres below {p} shortly after dawn.",
            "Officials counted {n} damaged buildings and several injuries.",
            "Rescue coordinator {who} said teams were searching collapsed homes.",
            "Aftershocks continued to shake {p} through the afternoon.",
        ],
    ),
    "election": (
        [
            "{who} wins {p} mayoral race with {n} percent",
            "{p} votes: {who} claims victory",
            "Turnout hits {m} percent in {p} election",
        ],
        [
            "{who} won the mayoral election in {p} with {n} percent of the vote.",
            "Turnout reached {m} percent, the highest in twenty years.",
            "Opponents conceded late on Sunday and congratulated {who}.",
            "The new council in {p} takes office next month.",
        ],
    ),
    "merger": (
        [
            "{org} agrees {n} billion takeover of {p} rival",
            "{org} deal: {who} to lead merged group",
            "Shares jump {m} percent on {org} merger news",
        ],
        [
            "{org} agreed to buy its {p} rival in a deal worth {n} billion.",
            "Chief executive {who} will lead the combined company.",
            "Shares rose {m} percent in early trading after the announcement.",
            "Regulators in {p} are expected to review the deal.",
        ],
    ),
    "outage": (
        [
            "Power outage leaves {n} thousand without electricity in {p}",
            "{p} blackout: {org} blames substation fault",
            "{who} promises power back in {p} within {m} hours",
        ],
        [
            "A substation fault cut power to {n} thousand homes across {p}.",
            "{org} engineers said repairs would take about {m} hours.",
            "Spokesperson {who} apologised to customers and businesses.",
            "Traffic lights in {p} were out during the evening rush.",
        ],
    ),
    "protest": (
        [
            "Thousands march in {p} against {org} plan",
            "{p} protest over {org} mine draws {n} thousand",
            "{who} addresses crowd at {p} rally",
        ],
        [
            "An estimated {n} thousand people marched through {p} on Saturday.",
            "Protesters oppose the {org} plan to open a mine near the town.",
            "Organiser {who} said the movement would continue for {m} weeks.",
            "Police in {p} reported the march was peaceful.",
        ],
    ),
}
_FILLER = [
    "Further details were not immediately available.",
    "Local media reported the news first.",
    "The story is developing and will be updated.",
    "Officials promised a full statement later in the day.",
    "Witnesses described scenes of confusion.",
]


def _place(rng: random.Random) -> str:
    return "".join(rng.choice(_SYL) for _ in range(rng.randint(2, 3))).capitalize()


def synthetic_article(k: int) -> tuple[str, str]:
    """Title and body of article ``k``: one of ~4 live events, each with its own names and figures."""
    rng = random.Random(k)
    story = max(0, k // 12 - rng.randint(0, 3))
    srng = random.Random(story * 7919 + 13)
    kind = srng.choice(sorted(_KINDS))
    facts = {
        "p": _place(srng),
        "who": f"{srng.choice(_FIRST)} {srng.choice(_LAST)}",
        "org": srng.choice(_ORG),
        "n": srng.randint(3, 900),
        "m": srng.randint(2, 48),
    }
    titles, sentences = _KINDS[kind]
    title = rng.choice(titles).format(**facts)
    body = rng.sample(sentences, k=rng.randint(2, len(sentences))) + rng.sample(_FILLER, k=rng.randint(0, 2))
    return title, " ".join(s.format(**facts) for s in body)
