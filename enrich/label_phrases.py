"""Phrases cut from a title at their boundaries, each with its score: the label's candidates
(``enrich.labels`` picks among them across titles). Pure, no I/O.

A title is read as words (``title_words``) that know where a clause starts and ends (punctuation,
separators; an en dash between two letters joins them: "Varna–Kessel"). A span (``spans``) starts
at the start of a clause (past its leading articles and qualifiers: "The | Bank of Japan"),
right after a preposition or conjunction (never after "of": "Bank of | Japan"), or at a full name
after its descriptors ("Retired NATO general | Petr Pavel"); it ends at the end of a clause or
right before a preposition, a verb or a filler, never on a function word, a qualifier ("more",
"new") or an adverb in -ly. A comma between two names does not end it ("Perry, Florida"); a comma
before a common word is inside a list ("missile, drone attacks") and ends nothing. A title that
opens with a short subject and a colon may run across it when a verb follows ("Titanic sub: crew
believed dead"). A slug's title, its punctuation lost, may also end after a name or figure before
a function word ("Apple unveils iPhone 14 | new features").

A span's score is the story's term weight it covers (a name of several words counting as its
heaviest word and half the others), less a cost per word, times factors for how it starts and
ends, whether it says what happened (``label_words.EVENTS``; the event most titles name scores
best) and who or where (a name), and whether it is a slug's string of keywords.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from enrich import label_words as lw
from enrich.features import STOPWORDS
from enrich.label_casing import key
from storywire.analysis import stem

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
# An en dash between two letters or digits joins them ("Varna–Kessel pipeline", "2022–2023").
_LOOSE_DASH = re.compile(r"(?<![^\W_])–|–(?![^\W_])")

# Each word of a label costs this share of an average heavy term: a longer phrase must earn its words.
_WORD_COST = 0.15
# A span without what happened, or without who or where, names the event less.
_NO_EVENT = 0.25
_OTHER_EVENT = 0.9  # what happened, but not what most titles say happened ("tsunami alert" of an earthquake)
_NO_NAME = 0.85


class Kind(NamedTuple):
    """What the word lists say of a folded word (looked up once per word, not per span)."""

    function: bool
    verb: bool  # a common headline verb (label_words.VERBS)
    verbish: bool  # ... or any verb the lists know
    event: bool  # says what happened
    breaks: bool  # a phrase may end before it
    stop: bool  # a stopword or function word: a slug's phrase may end before it
    genitive: bool
    weak_end: bool
    attribution: bool
    filler: bool
    stops: bool  # a phrase never runs across it
    no_end: bool  # a phrase never ends on it
    no_start: bool  # ... nor starts with it
    present: bool  # a transitive verb in -s: a phrase ending on it lacks its object
    subordinator: bool
    opener: bool  # an article or qualifier a clause may open with ("The", "La dernière")
    ending: bool  # a phrase may end right before it (a break, a verb, a filler)


@functools.lru_cache(maxsize=1 << 14)
def _kind(k: str) -> Kind:
    verbish = k in lw.VERBS or k in lw.INTRANSITIVE or (k in lw.EVENTS and k.endswith(("s", "ed", "t")))
    return Kind(
        function=k in lw.FUNCTION,
        verb=k in lw.VERBS,
        verbish=verbish,
        event=k in lw.EVENTS,
        breaks=k in lw.BREAKS,
        stop=k in STOPWORDS or k in lw.FUNCTION,
        genitive=k in lw.GENITIVES,
        weak_end=k in lw.WEAK_ENDS,
        attribution=k in lw.ATTRIBUTION,
        filler=k in lw.FILLERS,
        stops=k in lw.NO_CROSS or k in lw.FILLERS,
        no_end=k in lw.FUNCTION or k in lw.ATTRIBUTION or k in lw.NO_END,
        no_start=k in lw.FUNCTION or k in lw.VERBS or k in lw.NO_START,
        present=k in lw.VERBS and k.endswith("s") and k not in lw.INTRANSITIVE,
        subordinator=k in lw.SUBORDINATORS,
        opener=k in lw.NO_END or (k in lw.FUNCTION and k not in lw.BREAKS),
        ending=k in lw.BREAKS or k in lw.VERBS or k in lw.FILLERS,
    )


_NONE = _kind("")


class Word(NamedTuple):
    text: str  # as written, quotes removed
    key: str  # folded
    terms: tuple[str, ...]  # its terms' stems ("cuts" and "cut" weigh as one)
    start: bool  # a clause starts here
    end: bool  # a clause ends after it
    mark: str = ""  # ... at this mark ("," or ":")
    capital: bool = True  # its capital tells a name (not the first word of a sentence or heading)
    kind: Kind = _NONE


class _Token(NamedTuple):
    """A whitespace-separated piece of a title, read alone (cached: pieces repeat across titles)."""

    text: str
    key: str
    terms: tuple[str, ...]
    opens: bool  # a bracket or quote opens a clause before it
    closes: bool  # punctuation ends a clause after it
    mark: str
    kind: Kind


@functools.lru_cache(maxsize=1 << 14)
def _token(raw: str) -> _Token | None:
    """None for a separator ("-", "|") or a piece without letters or digits."""
    if raw in lw.SEPARATORS or not _TOKEN.search(raw):
        return None
    opens = bool(lw.CLAUSE_START.match(raw))
    closes = bool(lw.CLAUSE_END.search(raw)) and not raw.endswith(("'", "’"))
    text = raw.strip('"“”«»()[]{},:;!?|').strip("‘’'")
    if text.endswith(".") and not re.search(r"\.\w", text):  # "U.S." keeps its dots, "end." does not
        text, closes = text.rstrip("."), True
    k = key(text)
    terms = tuple(stem(t) for t in _TOKEN.findall(k) if t not in STOPWORDS and (len(t) > 1 or t.isdigit()))
    mark = raw[-1] if closes and raw[-1] in ",:" else ""
    return _Token(text, k, terms, opens, closes, mark, _kind(k))


def title_words(title: str) -> tuple[Word, ...]:
    """The title's words; ``labels`` keeps them with the title's other facts (one cache)."""
    # An unspaced dash between words ("night—the centre") separates clauses as a spaced one does.
    if "—" in title or "–" in title:
        title = _LOOSE_DASH.sub(" – ", title.replace("—", " — "))
    # None: a separator. Pieces that are only quotes or dots are left out.
    toks = [t for t in map(_token, title.split()) if t is None or t.text]
    out: list[Word] = []
    new = tuple.__new__  # Word(...) through its Python-level constructor costs twice as much
    start = True
    comma = False  # the word before ends at a comma: a capital after it still tells a name
    last = len(toks) - 1
    for n, tok in enumerate(toks):
        if tok is None:
            start, comma = True, False
            continue
        nxt = toks[n + 1] if n < last else None
        end = tok.closes or nxt is None or nxt.opens
        opens = start or tok.opens
        capital = not opens or comma
        out.append(new(Word, (tok.text, tok.key, tok.terms, opens, end, tok.mark, capital, tok.kind)))
        start, comma = tok.closes, tok.mark == ","
    return tuple(out)


def title_case(words: Sequence[Word]) -> bool:
    """Most content words capitalised ("Apple Unveils iPhone 15"): capitals say nothing of names.
    Title case leaves articles and prepositions in lower case."""
    content = [w.text for w in words if not (w.kind.function or w.kind.breaks) and w.text[:1].isalpha()]
    return len(content) >= 3 and sum(w[:1].islower() for w in content) <= 1


def span_ends(words: Sequence[Word]) -> tuple[bool, ...]:
    """Per word, whether any span may end on it (a superset of ``spans``' ends, names aside)."""
    n = len(words)
    return tuple(
        w.end or (j + 1 < n and (words[j + 1].kind.ending or words[j + 1].kind.stop)) for j, w in enumerate(words)
    )


def spannable(words: Sequence[Word], names: Sequence[bool], ends: Sequence[bool], max_words: int = 6) -> bool:
    """Whether any span may be cut from ``words``: a cheap superset of ``spans``' starts and ends,
    False for a long run of words without a boundary, which ``spans`` need not read."""
    n = len(words)
    for i, w in enumerate(words):
        if w.kind.no_start:
            continue
        prev = words[i - 1] if i else None
        full_name = names[i] and i + 1 < n and names[i + 1]
        starts = prev is None or w.start or prev.kind.opener or prev.kind.breaks or full_name
        if starts and any(ends[i + 1 : i + max_words]):
            return True
    return False


def _start_factor(words: Sequence[Word], i: int, names: Sequence[bool]) -> float:
    """How well a span may start at word ``i`` (0: it may not; -1: after a preposition)."""
    w = words[i]
    if w.kind.no_start:
        return 0.0
    if w.start:
        return 1.0
    prev = words[i - 1]
    if prev.end:  # after a comma inside a list of names ("Petr Pavel, | Andrej Babis")
        return 0.0
    # Past a clause's leading articles and qualifiers: "The | Bank of Japan", "La dernière | attaque".
    k = i - 1
    while k >= 0 and words[k].kind.opener:
        if words[k].start:
            return 1.0
        k -= 1
    pk = prev.kind
    if pk.genitive:
        return 0.0
    if pk.breaks and prev.key not in lw.NO_START_AFTER:
        if w.key.endswith("ing") and not pk.subordinator:
            return 0.0  # "by | keeping rates unchanged": a gerund clause, never a label's start
        return 0.9 if pk.subordinator else -1.0  # after a preposition: see spans
    full = i + 1 < len(words) and names[i + 1] and not w.end
    if full and names[i] and not names[i - 1] and not pk.function and not pk.verbish:
        return 0.85  # a full name after its descriptors: "Retired NATO general | Petr Pavel"
    return 0.0


def best_span(
    words: Sequence[Word],
    weights: Mapping[str, float],
    mass: float,
    max_words: int,
    names: Sequence[bool],
    slug: bool,
    main: frozenset[str],
) -> tuple[float, int, int]:
    """The best phrase-bounded span of ``words``: (score, start, end)."""
    found = spans(words, weights, mass, max_words, names, slug, main)
    return max(found, default=(0.0, 0, 0), key=lambda s: s[0])


def spans(
    words: Sequence[Word],
    weights: Mapping[str, float],
    mass: float,
    max_words: int,
    names: Sequence[bool],
    slug: bool,
    main: frozenset[str],
) -> list[tuple[float, int, int]]:
    """Every phrase-bounded span of ``words`` with its score: (score, start, end); ``main``: the
    stems of what most titles say happened (``_main_events``)."""
    n = len(words)
    get = weights.get
    out: list[tuple[float, int, int]] = []
    # Per word: its weight, and (when a term repeats in the title) its terms, counted once per span.
    gains = [sum(get(t, 0.0) for t in w.terms) for w in words]
    every = [t for w in words for t in w.terms]
    repeats = len(every) != len(set(every))
    cost = _WORD_COST * mass / max_words
    # Per word, what may follow it: a comma's kind, whether a phrase runs on across its mark, the
    # next word's key (none at a clause end), and whether a phrase may end on it.
    comma = [
        _after_comma(words[j + 1], names[j], names[j + 1]) if words[j].mark == "," and j + 1 < n else ""
        for j in range(n)
    ]
    for i in range(n):
        opening = _start_factor(words, i, names)
        if opening == 0.0:
            continue
        seen: set[str] = set()
        cover = 0.0
        filler = 0
        has_verb = has_name = told = False  # told: who reported it, not what happened
        # Crossed a colon: the clause after it must say what happened ("Titanic sub: crew believed dead").
        colon = said = False
        event = _NO_EVENT
        run = 0.0  # the heaviest word of the name being read
        # A slug's keywords, not a phrase: two names with nothing but common words between them
        # ("Ukraine Kyiv helicopter crash Vitali Klitschko").
        names_seen = linked = glued = False
        for j in range(i, min(n, i + max_words)):
            w = words[j]
            kind = w.kind
            name = names[j]
            if repeats:
                gained = sum(get(t, 0.0) for t in w.terms if t not in seen)
                seen.update(w.terms)
            else:
                gained = gains[j]
            if name and j > i and names[j - 1]:
                # One name of several words ("São Paulo", "Half Moon Bay") weighs as its heaviest
                # word and half the others: a place must not outweigh what happened there.
                cover += 0.5 * gained + 0.5 * max(0.0, gained - run)
                run = max(run, gained)
            else:
                run = gained if name else 0.0
                cover += gained
            if name:
                if j == i or not names[j - 1]:
                    glued = glued or (names_seen and not linked)
                    names_seen, linked = True, False
            else:
                linked = linked or kind.function or kind.breaks or kind.verbish
            if not kind.function and not kind.verb and (not w.terms or gained == 0.0):
                filler += 1
            has_verb = has_verb or kind.verb
            said = said or (colon and kind.verbish)
            # "tsunami alert", "storm warning": a warning of something, not what happened.
            warned = j + 1 < n and words[j + 1].key in lw.WARNINGS
            if kind.event and event < 1.0 and not warned:
                event = 1.0 if main.intersection(w.terms) else _OTHER_EVENT
            has_name = has_name or name
            told = told or (j > i and kind.attribution)
            if kind.filler:
                filler += 3
            after_comma = comma[j]
            # A short subject and a colon at the title's start: a phrase may end there or run on.
            colon_here = w.mark == ":" and i == 0 and j <= 2 and j + 1 < n
            listed = after_comma == "name" or colon_here
            nk = words[j + 1].kind if j + 1 < n and (not w.end or listed) else _NONE
            # A slug lost its punctuation: a name or figure before a function word may end a phrase.
            cut = slug and nk.stop and (name or w.text.isdigit())
            ends = (w.end and (not listed or colon_here)) or nk.ending or cut
            # Never before "of" ("wave | of missiles") nor at a comma inside a list ("missile, | drone").
            ends = ends and not nk.genitive and after_comma != "list"
            size = j - i + 1
            colon = colon or colon_here
            if ends and size >= 2 and _may_end(w, name) and cover > 0.0 and (said or not colon or colon_here):
                # Each word costs a little: a longer span must bring weight to beat a shorter one.
                score = (cover - cost * size) / mass
                if opening < 0.0:  # after a preposition: an object, without a verb of its own
                    score *= 0.9 if words[i - 1].kind.subordinator else 0.6 if has_verb else 0.9
                    score *= 0.7 if words[i].key.endswith("ing") else 1.0
                else:
                    score *= opening
                if nk.weak_end:  # "UBS agrees | to buy ...", but not "cuts interest rate | to 5%".
                    score *= 1.0 if j + 2 < n and words[j + 2].text[:1].isdigit() else 0.7
                score *= 0.6 if nk.attribution else 1.0
                score *= 0.75 if nk.verb and event == _NO_EVENT else 1.0  # the subject, without the event
                score *= 0.6 if kind.present else 1.0
                score *= 0.75 if size == 2 else 1.0
                score *= 0.92**filler
                score *= 0.7 if told else 1.0
                score *= 0.8 if slug and glued else 1.0
                score *= event
                score *= 1.0 if has_name else _NO_NAME
                out.append((score, i, j + 1))
            if (w.end and not listed) or (j + 1 < n and words[j + 1].kind.stops):
                break
    return out


def _after_comma(nxt: Word, name: bool, next_name: bool) -> str:
    """What a comma inside a title is: "name" between two names ("Perry, Florida", "Petr Pavel,
    Andrej Babis": a phrase runs on), "list" before a common word that is no verb ("missile, drone
    attacks": a phrase may neither end nor run on there), else "" (a clause ends: "unchanged,
    suggests cuts"; a word in -s after a comma is taken for a verb)."""
    if name and next_name:
        return "name"
    k = nxt.kind
    if nxt.text[:1].islower() and not k.function and not k.breaks and not k.verbish and nxt.key[-1:] != "s":
        return "list"
    return ""


def _may_end(w: Word, name: bool) -> bool:
    if w.kind.no_end:
        return False
    return name or not (w.key.endswith("ly") and len(w.key) > 4)  # "unexpectedly | raised"
