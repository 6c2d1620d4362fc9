"""A story's names: its ``headline`` and its ``label``, from the titles of its closest members.

Pure and deterministic, no I/O. ``StoryState.relabel`` calls ``name_story`` when the titles it
reads change or the story's size doubles, with the titles of its most similar members (up to
``story_state.NAMING_TITLES``; a URL slug's title cased from its text by
``label_casing.naming_title`` when the member joined) and the story's term weights (each
term's frequency over every member's title and lead, times its inverse story frequency), so
the names prefer what several members say over what one title says.

- ``headline``: the full title of the most representative member (close to the story, covering
  its heavy terms, properly cased, in the story's main language), outlet suffixes and
  "Breaking:"/"Live updates:" furniture removed.
- ``label``: two to ``max_words`` words cut from one title at phrase boundaries
  (``label_phrases``), the best span over all the titles: the one covering most of the story's
  term weight by stem (each term the more as more titles use it), the more so when it says what
  most titles say happened and who or where ("Hurricane Idalia makes landfall in Florida",
  "Bank of England cuts interest rate", "Ukrainian incursion into Kursk region"). A slug's title
  is read after a properly cased one, and one stripped of its function words ("Bank england cut
  interest rates pandemic", where another title writes "Bank of England") after every other.

Names are words that a properly cased title (or a slug's text) writes with a capital inside a
sentence; a title in title case or without casing takes its words' casing from the others.
The story's main language is the language most of its members are written in (all of them,
by the story's language counts); titles in other languages are named only when none is in it.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from enrich import label_words as lw
from enrich.features import is_figure
from enrich.label_casing import clean_title, flat, key, shouting
from enrich.label_phrases import Word, best_span, span_ends, spannable, title_case, title_words
from storywire.analysis import stem

__all__ = ["Member", "Names", "clean_title", "name_story"]

# Figures separate events but make poor labels on their own ("3rd 2023 Russian media").
_FIGURE = 0.25


@dataclass(frozen=True)
class Member:
    """A member as the namer sees it: its title, its similarity to the story, its language;
    ``slug``: the title's casing was read from its text (a URL slug: telegraphic)."""

    title: str
    similarity: float = 0.0
    language: str | None = None
    source: str = ""
    slug: bool = False


@dataclass(frozen=True)
class Names:
    headline: str
    label: str


class _Facts(NamedTuple):
    """What the namer reads from one title, whatever the story: computed once per title."""

    words: tuple[Word, ...]
    terms: frozenset[str]  # stems
    events: frozenset[str]  # stems of its words that say what happened
    gapped: frozenset[tuple[str, str]]  # word pairs it writes with a function word between them
    capitals: tuple[tuple[str, str], ...]  # (folded, as written) of its words whose capital means something
    unknown: bool  # its casing is unknown (flat or shouted)
    shouted: bool  # in capitals
    shows_case: bool  # its capitals tell names (not flat, shouted or in title case)
    nameable: tuple[bool, ...]  # per word: may be a name at all (no function word, a letter first)
    own: tuple[bool, ...]  # per word: a name by this title alone, where the others do not say
    ends: tuple[bool, ...]  # per word: a span may end on it (label_phrases.span_ends)
    spannable: bool  # a span may surely be cut from it, whatever its names say


# Titles repeat across a hot story's relabels; a story's titles are read at most once per change.
@functools.lru_cache(maxsize=4096)
def _facts(title: str) -> _Facts:
    words = title_words(title)
    shouted, tcase = shouting(title), title_case(words)
    unknown = shouted or flat(title)  # label_casing.unknown_case
    shows = not unknown and not tcase
    terms: list[str] = []
    events: list[str] = []
    gapped: list[tuple[str, str]] = []
    own: list[bool] = []
    nameable: list[bool] = []
    ends = span_ends(words)
    last = len(words) - 1
    for n, w in enumerate(words):
        kind = w.kind
        terms += w.terms
        if kind.event:
            events += w.terms
        if kind.function and 0 < n < last and not words[n - 1].kind.function and not words[n + 1].kind.function:
            gapped.append((words[n - 1].key, words[n + 1].key))
        text = w.text
        upper = text[:1].isupper()
        if upper and len(text) >= 2 and text.isupper() and not shouted:
            own.append(True)  # an acronym
        elif tcase:  # unknown to the others: a name unless it says what happened
            own.append(w.capital and upper and not kind.event and not kind.verb and w.key not in lw.NO_END)
        else:
            own.append(shows and w.capital and upper)
        nameable.append(not (kind.function or kind.breaks or kind.attribution) and text[:1].isalpha())
    return _Facts(
        words=words,
        terms=frozenset(terms),
        events=frozenset(events),
        gapped=frozenset(gapped),
        capitals=tuple((w.key, w.text) for w in words[1:] if w.capital),
        unknown=unknown,
        shouted=shouted,
        shows_case=shows,
        nameable=tuple(nameable),
        own=tuple(own),
        ends=ends,
        spannable=spannable(words, (False,) * len(words), ends),
    )


def _shows_case(title: str, slug: bool) -> bool:
    """Whether the title's capitals tell names (a slug's were read from its text: they do)."""
    return slug or _facts(title).shows_case


@functools.lru_cache(maxsize=1024)
def _casing(titles: tuple[str, ...], slugs: tuple[bool, ...]) -> dict[str, str]:
    """Folded word -> how the titles write it inside a sentence (most common form); a properly
    cased title's word over a slug's (whose casing came from its text)."""
    out: dict[str, str] = {}
    for want in (False, True):
        forms: dict[str, dict[str, int]] = {}
        for title, slug in zip(titles, slugs, strict=True):
            if slug != want or not _shows_case(title, slug):
                continue
            for k, text in _facts(title).capitals:
                seen = forms.get(k)
                if seen is None:
                    forms[k] = {text: 1}
                else:
                    seen[text] = seen.get(text, 0) + 1
        for k, c in forms.items():
            if k not in out:
                out[k] = max(c, key=c.__getitem__)  # the most common; ties: the first seen
    return out


def _names(facts: _Facts, slug: bool, casing: Mapping[str, str]) -> list[bool]:
    """Per word, who or where: written with a capital inside a sentence (by this title or, where
    its capitals say nothing, by the others), or an acronym."""
    out = []
    get = casing.get
    for w, nameable, own in zip(facts.words, facts.nameable, facts.own, strict=True):
        if not nameable:
            out.append(False)
        elif slug and w.capital:
            out.append(w.text[:1].isupper())
        else:
            form = get(w.key)
            out.append(own if form is None else form[:1].isupper())
    return out


def _shared(titles: Sequence[str], weights: Mapping[str, float]) -> dict[str, float]:
    """The story's term weights by stem, each scaled by the share of the given titles that use
    it (a word several reports put in their titles names the event better than one title's
    word), figures scaled down (they separate events but make poor labels on their own: "3rd 2023")."""
    df: Counter[str] = Counter()
    for title in titles:
        df.update(_facts(title).terms)
    n = max(1, len(titles))
    by_stem: dict[str, float] = {}
    for t, x in weights.items():
        s = stem(t)
        by_stem[s] = by_stem.get(s, 0.0) + x
    share = df.get  # not df[t]: a Counter's default for a missing stem costs a Python call
    return {t: x * (0.25 + 0.75 * share(t, 0) / n) * (_FIGURE if is_figure(t) else 1.0) for t, x in by_stem.items()}


def _main_events(titles: Sequence[str], weights: Mapping[str, float]) -> frozenset[str]:
    """The stem of the event word (``label_words.EVENTS``) most titles use (the heaviest of those)."""
    df: Counter[str] = Counter()
    for title in titles:
        df.update(_facts(title).events)
    if not df:
        return frozenset()
    top = max(df.values())
    return frozenset({max((t for t in df if df[t] == top), key=lambda t: (weights.get(t, 0.0), t))})


def _main_language(members: Sequence[Member], counts: Mapping[str, int] | None) -> str | None:
    """The language most members are written in: by the story's own counts over every member
    when given, else over the given members; ties go to the closest member's language."""
    langs = Counter(counts) if counts else Counter(m.language for m in members if m.language)
    if not langs:
        return None
    top = max(langs.values())
    for m in sorted(members, key=lambda m: -m.similarity):
        if m.language and langs[m.language] == top:
            return m.language
    return min(lang for lang, n in langs.items() if n == top)


def name_story(
    members: Sequence[Member],
    weights: Mapping[str, float],
    max_words: int = 6,
    languages: Mapping[str, int] | None = None,
) -> Names:
    """The story's headline and label (empty strings for a story without titles); ``languages``:
    how many of the story's members are written in each language (all of them, not only those
    whose titles are given)."""
    titled = [m for m in members if m.title.strip()]
    if not titled:
        return Names("", "")
    language = _main_language(titled, languages)
    pool = [m for m in titled if language is None or m.language in (language, None)] or titled
    cleaned = [clean_title(m.title, m.source) for m in pool]
    every = tuple(clean_title(m.title, m.source) for m in titled)
    casing = _casing(every, tuple(m.slug for m in titled))
    weights = _shared(cleaned, weights)
    main = _main_events(cleaned, weights)
    gapped = _gapped(cleaned)
    mass = sum(sorted(weights.values(), reverse=True)[:max_words]) or 1.0

    # Each title's bound on its label score (a span covers at most the title's weight), so that
    # titles that cannot win are not cut into spans: most relabels read few titles.
    bounds = []
    best_head: tuple[float, int] = (-1.0, 0)
    for k, (m, title) in enumerate(zip(pool, cleaned, strict=True)):
        facts = _facts(title)
        words = facts.words
        if not words:
            continue
        quality = _slug_quality(words, gapped) if m.slug else 0.85 if facts.unknown else 1.0
        whole = sum(weights.get(t, 0.0) for t in facts.terms)
        names = _names(facts, m.slug, casing)
        # Without names a title may already be cut; else its names may open a span ("Petr Pavel ...").
        if facts.spannable or spannable(words, names, facts.ends, max_words):
            bounds.append(((0.85 * whole / mass + 0.15 * m.similarity) * quality, k, quality, names))
        length = 1.0 if len(words) <= 14 else 14.0 / len(words)
        # A title without casing reads worst; a slug cased from its text lacks only its punctuation.
        readable = 0.6 if facts.unknown else 0.9 if m.slug else 1.0
        head = (0.5 * m.similarity + 0.5 * min(1.0, whole / (mass * 2.0))) * readable * length
        if head > best_head[0] + 1e-12:
            best_head = (head, k)
    best_label: tuple[float, int, str] = (-1.0, 0, "")
    for bound, k, quality, names in sorted(bounds, key=lambda b: (-b[0], b[1])):
        if bound < best_label[0]:
            break
        m, title = pool[k], cleaned[k]
        facts = _facts(title)
        words = facts.words
        cover, i, j = best_span(words, weights, mass, max_words, names, m.slug or facts.unknown, main)
        score = (0.85 * cover + 0.15 * m.similarity) * quality
        # The earlier title wins a tie, as if the titles were read in order.
        if j > i and (score > best_label[0] + 1e-12 or (score > best_label[0] - 1e-12 and k < best_label[1])):
            cased = _recase(words[i:j], facts, m.slug, casing)
            marks = [w.mark if n < j - i - 1 else "" for n, w in enumerate(words[i:j])]
            text = " ".join(c + mark for c, mark in zip(cased, marks, strict=True))
            best_label = (score, k, text[:1].upper() + text[1:] if not _inner_capital(text) else text)
    head_member = pool[best_head[1]]
    headline = _recased_title(cleaned[best_head[1]], head_member.slug, casing)
    label = best_label[2] or _fallback(headline, max_words)
    return Names(headline, label)


def _gapped(titles: Sequence[str]) -> frozenset[tuple[str, str]]:
    """Pairs of words that a title writes with a function word between them ("Bank of England")."""
    return frozenset().union(*(_facts(title).gapped for title in titles))


def _slug_quality(words: Sequence[Word], gapped: frozenset[tuple[str, str]]) -> float:
    """A slug's title is read last, and one stripped of its function words after every other
    ("Bank england cut interest rates pandemic", where others write "Bank of England")."""
    if any((a.key, b.key) in gapped for a, b in itertools.pairwise(words)):
        return 0.75
    return 0.85 if len(words) >= 5 and not any(w.key in lw.FUNCTION for w in words) else 0.9


def _inner_capital(text: str) -> bool:
    first = text.split(" ", 1)[0]
    return first[1:] != first[1:].lower()


def _recase(words: Sequence[Word], facts: _Facts, slug: bool, casing: Mapping[str, str]) -> list[str]:
    """A span's words (of the title ``facts`` tell) as the story writes them: a slug's or an
    uncased title's words take the casing properly cased titles give them."""
    if slug:
        return [casing.get(w.key, w.text) for w in words]
    if not facts.unknown:
        return [w.text for w in words]
    return [casing.get(w.key, w.text.lower() if facts.shouted else w.text) for w in words]


def _recased_title(title: str, slug: bool, casing: Mapping[str, str]) -> str:
    facts = _facts(title)
    if not (slug or facts.unknown):
        return title
    parts = title.split()
    out = []
    for n, raw in enumerate(parts):
        core = raw.strip("\"“”«»()[]{},:;!?|.‘’'")
        form = casing.get(key(core))
        if form is not None and core.lower() == form.lower():
            out.append(raw.replace(core, form))
        elif facts.shouted:
            out.append(raw.lower() if n else raw.capitalize())
        else:
            out.append(raw)
    text = " ".join(out)
    return text if _inner_capital(text) else text[:1].upper() + text[1:]


def _fallback(headline: str, max_words: int) -> str:
    """No phrase boundary inside ``max_words`` words: the headline's first clause, cut short."""
    words = [w.text for w in _facts(headline).words]  # most often a title whose facts are at hand
    while len(words) > 1 and key(words[-1]) in lw.FUNCTION:
        words.pop()
    return " ".join(words[:max_words])
