"""A story's names: its ``headline`` and its ``label``, from the titles of its closest members.

Pure and deterministic, no I/O. ``StoryState.relabel`` calls ``name_story`` when the story's
closest members change or its size doubles, with the titles of those members (their
similarity to the story and their language) and the story's term weights (each term's
frequency over every member's title and lead, times its inverse story frequency), so the
names prefer what several members say over what one title says.

- ``headline``: the full title of the most representative member (close to the story, covering
  its heavy terms, properly cased, in the story's main language), outlet suffixes and
  "Breaking:"/"Live updates:" furniture removed.
- ``label``: two to ``max_words`` words cut from one title at phrase boundaries: a span starts
  at the start of a clause (the title, or after ":", ",", "-", "|"...) or right after a
  preposition or conjunction, and ends at the end of a clause or right before one; it never
  starts or ends with a function word. Among the spans, the one covering most of the
  story's term weight wins ("Hurricane Idalia makes landfall", cut before "in"; "Apple Unveils
  iPhone 15", cut before ", Which Eliminates Lightning Port"). A flat-cased title (taken
  from a URL slug) gets its words' casing from the other titles where they show it.

The story's main language is the language most of the given members are written in (when
members carry one); titles in other languages are named only when none is in it.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from enrich import label_words as lw
from enrich.features import STOPWORDS, fold

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_DIGIT = re.compile(r"\d")

# Each word of a label costs this share of an average heavy term: a longer phrase must earn its words.
_WORD_COST = 0.15
# Figures separate events but make poor labels on their own ("3rd 2023 Russian media").
_FIGURE = 0.25


@dataclass(frozen=True)
class Member:
    """A member as the namer sees it: its title, its similarity to the story, its language."""

    title: str
    similarity: float = 0.0
    language: str | None = None
    source: str = ""


@dataclass(frozen=True)
class Names:
    headline: str
    label: str


def _key(word: str) -> str:
    return fold(word).strip(lw.QUOTES)


@functools.lru_cache(maxsize=8192)
def clean_title(title: str, source: str = "") -> str:
    """The title without outlet suffixes (" - Reuters", " | BBC News") and furniture ("BREAKING:")."""
    text = " ".join(title.split())
    for _ in range(2):
        parts = lw.OUTLET_SPLIT.split(text)
        if len(parts) >= 2 and _is_outlet(parts[-1], source) and len(" ".join(parts[:-1]).split()) >= 3:
            text = text[: text.rfind(parts[-1])].rstrip(" |-–—")
        text = lw.SUFFIX_FURNITURE.sub("", text)
    stripped = lw.PREFIX.sub("", text)
    stripped = lw.PREFIX_BARE.sub("", stripped) if len(stripped.split()) > 3 else stripped
    if len(stripped.split()) >= 2:
        text = stripped
    return text[:1].upper() + text[1:] if text[:1].islower() else text


def _is_outlet(part: str, source: str) -> bool:
    words = part.split()
    if not words or len(words) > 5:
        return False
    squashed = re.sub(r"[^a-z0-9]", "", fold(part))
    site = re.sub(r"[^a-z0-9]", "", fold(source.split("/")[-1].rsplit(".", 1)[0])) if source else ""
    if squashed and site and (squashed in site or site in squashed):
        return True
    if "." in part and " " not in part.strip():  # "nytimes.com"
        return True
    if len(words) <= 4 and all(w[:1].isupper() for w in words):  # " – US Coast Guard": who said it
        return True
    return any(_key(w).strip(".,") in lw.OUTLET_WORDS for w in words)


@dataclass(frozen=True)
class _Word:
    text: str  # as written, quotes removed
    key: str  # folded
    terms: tuple[str, ...]  # its terms, as the clusterer's profile spells them
    start: bool  # a clause starts here
    end: bool  # a clause ends after it


@functools.lru_cache(maxsize=8192)
def _words(title: str) -> tuple[_Word, ...]:
    out: list[_Word] = []
    start = True
    # An unspaced dash between words ("night—the centre") separates clauses as a spaced one does.
    for raw in title.replace("—", " — ").replace("–", " – ").split():
        if raw in lw.SEPARATORS or not _TOKEN.search(raw):
            if out:
                out[-1] = _with_end(out[-1])
            start = True
            continue
        opens = bool(lw.CLAUSE_START.match(raw))
        closes = bool(lw.CLAUSE_END.search(raw)) and not raw.endswith(("'", "’"))
        text = raw.strip('"“”«»()[]{},:;!?|').strip("‘’'")
        if text.endswith(".") and not re.search(r"\.\w", text):  # "U.S." keeps its dots, "end." does not
            text, closes = text.rstrip("."), True
        if not text:
            continue
        key = _key(text)
        terms = tuple(t for t in _TOKEN.findall(key) if t not in STOPWORDS and (len(t) > 1 or t.isdigit()))
        if opens and out:
            out[-1] = _with_end(out[-1])
        out.append(_Word(text, key, terms, start or opens, closes))
        start = closes
    if out:
        out[-1] = _with_end(out[-1])
    return tuple(out)


def _with_end(w: _Word) -> _Word:
    return _Word(w.text, w.key, w.terms, w.start, True)


@functools.lru_cache(maxsize=8192)
def _flat(title: str) -> bool:
    """A title with no capital past its first letter (a URL slug): its casing is unknown."""
    letters = [c for c in title[1:] if c.isalpha()]
    return len(letters) > 8 and not any(c.isupper() for c in letters)


@functools.lru_cache(maxsize=8192)
def _shouting(title: str) -> bool:
    letters = [c for c in title if c.isalpha()]
    return len(letters) > 8 and sum(c.isupper() for c in letters) > 0.8 * len(letters)


def _unknown_case(title: str) -> bool:
    return _flat(title) or _shouting(title)


@functools.lru_cache(maxsize=8192)
def _title_case(title: str) -> bool:
    """Most content words capitalised ("Apple Unveils iPhone 15"): capitals say nothing of names."""
    content = [w.text for w in _words(title) if w.key not in lw.FUNCTION and w.text[:1].isalpha()]
    return len(content) >= 3 and sum(w[:1].islower() for w in content) <= 1


@functools.lru_cache(maxsize=4096)
def _casing(titles: tuple[str, ...]) -> dict[str, str]:
    """Folded word -> how the sentence-cased titles write it inside a sentence (most common form)."""
    forms: dict[str, Counter[str]] = {}
    for title in titles:
        if _unknown_case(title) or _title_case(title):
            continue
        for w in _words(title)[1:]:
            if not w.start:
                forms.setdefault(w.key, Counter())[w.text] += 1
    return {k: c.most_common(1)[0][0] for k, c in forms.items()}


def _recase(words: Sequence[_Word], title: str, casing: Mapping[str, str]) -> list[str]:
    if not (_unknown_case(title)):
        return [w.text for w in words]
    out = [casing.get(w.key, w.text.lower() if _shouting(title) else w.text) for w in words]
    return out


def _term_weight(t: str, weights: Mapping[str, float]) -> float:
    return weights.get(t, 0.0)


def _weight(w: _Word, weights: Mapping[str, float]) -> float:
    get = weights.get
    return sum(get(t, 0.0) for t in w.terms)


@functools.lru_cache(maxsize=8192)
def _title_terms(title: str) -> frozenset[str]:
    return frozenset(t for w in _words(title) for t in w.terms)


def _shared(titles: Sequence[str], weights: Mapping[str, float]) -> dict[str, float]:
    """The story's term weights, each scaled by the share of the given titles that use the term
    (a word several reports put in their titles names the event better than one title's word),
    figures scaled down (they separate events but make poor labels on their own: "3rd 2023")."""
    df: Counter[str] = Counter()
    for title in titles:
        df.update(_title_terms(title))
    n = max(1, len(titles))
    return {t: x * (0.25 + 0.75 * df[t] / n) * (_FIGURE if _DIGIT.search(t) else 1.0) for t, x in weights.items()}


def _best_span(
    words: Sequence[_Word], weights: Mapping[str, float], mass: float, max_words: int
) -> tuple[float, int, int]:
    """The best phrase-bounded span of ``words``: (score, start, end)."""
    n = len(words)
    ws = [_weight(w, weights) for w in words]
    best = (0.0, 0, 0)
    for i in range(n):
        prev = words[i - 1].key if i > 0 else ""
        after_break = i > 0 and not words[i - 1].end and prev in lw.BREAKS and prev not in lw.NO_START_AFTER
        if not (words[i].start or after_break) or words[i].key in lw.FUNCTION or words[i].key in lw.VERBS:
            continue
        seen: set[str] = set()
        cover = 0.0
        filler = 0
        has_verb = False
        told = False  # "Russian media reported a drone strike": who told it, not what happened
        for j in range(i, min(n, i + max_words)):
            w = words[j]
            fresh = [t for t in w.terms if t not in seen]
            seen.update(w.terms)
            cover += sum(_term_weight(t, weights) for t in fresh)
            if ws[j] == 0.0 and w.key not in lw.FUNCTION and w.key not in lw.VERBS:
                filler += 1
            has_verb = has_verb or w.key in lw.VERBS
            told = told or (j > i and w.key in lw.ATTRIBUTION)
            if w.key in lw.FILLERS:
                filler += 3
            nxt = words[j + 1].key if j + 1 < n and not w.end else ""
            ends = w.end or nxt in lw.BREAKS or nxt in lw.VERBS
            size = j - i + 1
            if ends and size >= 2 and w.key not in lw.FUNCTION and w.key not in lw.ATTRIBUTION and cover > 0.0:
                # Each word costs a little: a longer span must bring weight to beat a shorter one.
                score = (cover - _WORD_COST * size * mass / max_words) / mass
                if not words[i].start:  # an object after a preposition has no verb of its own
                    score *= 0.9 if prev in lw.SUBORDINATORS else 0.6 if has_verb else 0.9
                    score *= 0.7 if words[i].key.endswith("ing") else 1.0
                score *= 0.7 if nxt in lw.WEAK_ENDS else 1.0
                score *= 0.6 if nxt in lw.ATTRIBUTION else 1.0
                score *= 0.75 if nxt in lw.VERBS and not has_verb else 1.0  # the subject, without the event
                present = w.key in lw.VERBS and w.key.endswith("s")
                score *= 0.6 if present and w.key not in lw.INTRANSITIVE else 1.0
                score *= 0.75 if size == 2 else 1.0
                score *= 0.92**filler
                score *= 0.7 if told else 1.0
                if score > best[0] + 1e-12:
                    best = (score, i, j + 1)
            if w.end or (j + 1 < n and (words[j + 1].key in lw.NO_CROSS or words[j + 1].key in lw.FILLERS)):
                break
    return best


def _main_language(members: Sequence[Member]) -> str | None:
    langs = Counter(m.language for m in members if m.language)
    if not langs:
        return None
    top = max(langs.values())
    # Ties go to the language of the closest member among the tied ones.
    for m in sorted(members, key=lambda m: -m.similarity):
        if m.language and langs[m.language] == top:
            return m.language
    return None


def name_story(members: Sequence[Member], weights: Mapping[str, float], max_words: int = 6) -> Names:
    """The story's headline and label (empty strings for a story without titles)."""
    titled = [m for m in members if m.title.strip()]
    if not titled:
        return Names("", "")
    main = _main_language(titled)
    pool = [m for m in titled if main is None or m.language in (main, None)] or titled
    cleaned = [clean_title(m.title, m.source) for m in pool]
    casing = _casing(tuple(clean_title(m.title, m.source) for m in titled))
    weights = _shared(cleaned, weights)
    mass = sum(sorted(weights.values(), reverse=True)[:max_words]) or 1.0

    best_label: tuple[float, str] = (-1.0, "")
    best_head: tuple[float, int] = (-1.0, 0)
    for k, (m, title) in enumerate(zip(pool, cleaned, strict=True)):
        words = _words(title)
        if not words:
            continue
        quality = 0.85 if _unknown_case(title) else 1.0
        head_quality = 0.6 if quality < 1.0 else 1.0
        cover, i, j = _best_span(words, weights, mass, max_words)
        if j > i:
            score = (0.85 * cover + 0.15 * m.similarity) * quality
            if score > best_label[0] + 1e-12:
                phrase = _recase(words[i:j], title, casing)
                text = " ".join(phrase)
                best_label = (score, text[:1].upper() + text[1:])
        whole = sum(_weight(w, weights) for w in {w.key: w for w in words}.values()) / (mass * 2.0)
        length = 1.0 if len(words) <= 14 else 14.0 / len(words)
        head = (0.5 * m.similarity + 0.5 * min(1.0, whole)) * head_quality * length
        if head > best_head[0] + 1e-12:
            best_head = (head, k)
    headline = _recased_title(cleaned[best_head[1]], casing)
    label = best_label[1] or _fallback(headline, max_words)
    return Names(headline, label)


def _recased_title(title: str, casing: Mapping[str, str]) -> str:
    if not (_unknown_case(title)):
        return title
    parts = title.split()
    out = []
    for n, raw in enumerate(parts):
        key = _key(raw.strip("\"“”«»()[]{},:;!?|.‘’'"))
        form = casing.get(key)
        if form is not None and raw.strip(",:;!?.").lower() == form.lower():
            out.append(raw.replace(raw.strip(",:;!?."), form))
        elif _shouting(title):
            out.append(raw.lower() if n else raw.capitalize())
        else:
            out.append(raw)
    text = " ".join(out)
    return text[:1].upper() + text[1:]


def _fallback(headline: str, max_words: int) -> str:
    """No phrase boundary inside ``max_words`` words: the headline's first clause, cut short."""
    words = [w.text for w in _words(headline)]
    while len(words) > 1 and _key(words[-1]) in lw.FUNCTION:
        words.pop()
    return " ".join(words[:max_words])
