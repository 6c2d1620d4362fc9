"""Text analysis shared by search and watch rules: folding, stemming, and the one query meaning.

Pure functions, no I/O. The local Elasticsearch (the integ-test-zip distribution) has no
``analysis-common`` module, so no stemmer, no ``asciifolding`` and no ``english`` analyzer;
Maven Central publishes no 8.x build of that module. So Storywire analyses in the client:
the index writer stores ``analyse(text)`` in a ``stems`` field indexed with Elasticsearch's
``whitespace`` analyzer (which every distribution has), the search service analyses the
query with the same function, and the watch rules compare the same stems in Python. One
function on both sides, so "drone" finds "drones", "Séisme" finds "seisme", and a watch rule
fires on exactly the stories whose text holds every word of its query.

    fold("Séisme à Marrakech")       -> "seisme a marrakech"
    terms("Drones hit the Kremlin")  -> ("drone", "hit", "kremlin")        English stems
    analyse("Erdbeben in Marokko", "de") -> "erdbeben erdbeb marokko"      own stem + folded word

Text in another language (when known) is stemmed with its own Snowball stemmer and keeps
its folded word beside the stem, so a query typed in that language (stemmed as English)
still finds it.

The query language (``Query``): plain words and "quoted phrases", nothing else is syntax.
A story *matches* a query when its text holds every word (by stem) and every phrase (as
consecutive stems). That is what a watch rule fires on, and what the search box ranks first.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import snowballstemmer

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]*)"')

# Function words dropped from a query, unless it has no other words (documents keep them, so
# such a query can still match).
_STOPWORD_TEXT = "a an and are as at be but by for from has have in into is it its of on or that the their this to"
_STOPWORD_TEXT += " was were will with"
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# ISO 639-1 code -> Snowball algorithm.
_LANGUAGES = {
    "ar": "arabic",
    "ca": "catalan",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "fi": "finnish",
    "fr": "french",
    "hu": "hungarian",
    "id": "indonesian",
    "it": "italian",
    "nl": "dutch",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sv": "swedish",
    "tr": "turkish",
}


def fold(text: str) -> str:
    """Case-folded, accents stripped, compatibility forms unified ("Ⅻ" "ﬁ" "Ö" -> "xii" "fi" "o")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """Folded word tokens; punctuation and spacing do not count."""
    return _WORD.findall(fold(text))


@functools.lru_cache(maxsize=64)
def _stemmer(algorithm: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(algorithm)


@functools.lru_cache(maxsize=1 << 17)
def stem(word: str, language: str = "en") -> str:
    """The Snowball stem of a folded word in ``language`` (English when unknown)."""
    algorithm = _LANGUAGES.get((language or "en")[:2].lower(), "english")
    return str(_stemmer(algorithm).stemWord(word))


def stems_of(text: str) -> tuple[str, ...]:
    """Every word's English stem, function words included (what a story's text is matched on)."""
    return tuple(stem(w) for w in words(text))


def terms(text: str) -> tuple[str, ...]:
    """The text's English stems in order, function words dropped unless there is nothing else."""
    found = words(text)
    kept = [w for w in found if w not in STOPWORDS] or found
    return tuple(stem(w) for w in kept)


def analyse(text: str, language: str | None = None) -> str:
    """What the ``stems`` fields hold: English stems, and for text in another known language
    its own stem and the folded word too. Space-separated, for a whitespace analyzer."""
    other = language is not None and language[:2].lower() != "en" and language[:2].lower() in _LANGUAGES
    out: list[str] = []
    for w in words(text):
        if other:
            s = stem(w, language or "en")
            out.append(w)
            if s != w:
                out.append(s)
        else:
            out.append(stem(w))
    return " ".join(out)


def analyse_all(texts: Iterable[tuple[str, str | None]]) -> str:
    """``analyse`` of several (text, language) pairs, one field value."""
    return " ".join(a for text, lang in texts if (a := analyse(text, lang)))


@dataclass(frozen=True)
class Query:
    """A parsed query: stemmed words and phrases, all required for a match."""

    text: str
    words: frozenset[str]
    phrases: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        """Parse user text; raise ValueError when nothing searchable is left."""
        phrases = tuple(p for p in (terms(m) for m in _PHRASE.findall(text)) if p)
        rest = _PHRASE.sub(" ", text).replace('"', " ")  # an unmatched quote is just a quote
        found = frozenset(terms(rest))
        if not found and not phrases:
            raise ValueError("the query has no words to search for")
        return cls(text=text, words=found, phrases=phrases)

    @property
    def all_terms(self) -> frozenset[str]:
        return self.words | {t for p in self.phrases for t in p}

    def matches(self, fields: Iterable[str]) -> bool:
        """True when the texts (each analysed as English; a phrase never spans two) hold every word
        and every phrase."""
        texts = [words(f) for f in fields]
        full = [stems_of(f) for f in fields]  # every word, for the vocabulary
        content = [tuple(stem(w) for w in ws if w not in STOPWORDS) for ws in texts]  # as phrases are parsed
        vocabulary = {t for f in full for t in f}
        if not self.words <= vocabulary:
            return False
        return all(any(_contains(f, p) for f in (*content, *full)) for p in self.phrases)


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))
