"""The saved-search language of watch rules, evaluated against a Story snapshot.

It is the plain-word syntax of the story search box: words, all of which must
match, and optionally one or more "quoted phrases" whose words must appear next to
each other. Matching ignores case and punctuation and looks at the story's label,
its keywords and the titles of its top articles. Nothing in the text is query
syntax for a search engine (no AND/OR, no field:value, no wildcards), so a saved
search means the same thing here as in the search box.

    kremlin drone            both words, anywhere in the story's text
    "air defence" moscow     the phrase, and the word
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from storywire.messages import Story

_WORD = re.compile(r"\w+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]*)"')


def tokens(text: str) -> tuple[str, ...]:
    """Case-folded, NFKC-normalised word tokens; punctuation and spacing do not matter."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return tuple(_WORD.findall(folded))


@dataclass(frozen=True)
class Query:
    """A parsed saved search: single words and phrases, all required."""

    text: str
    words: frozenset[str]
    phrases: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        """Parse user text; raise ValueError when nothing searchable is left."""
        phrases = tuple(p for p in (tokens(m) for m in _PHRASE.findall(text)) if p)
        rest = _PHRASE.sub(" ", text).replace('"', " ")  # an unmatched quote is just a quote
        words = frozenset(tokens(rest))
        if not words and not phrases:
            raise ValueError("the query has no words to search for")
        return cls(text=text, words=words, phrases=phrases)

    def matches(self, story: Story) -> bool:
        fields = story_fields(story)
        vocabulary = {t for f in fields for t in f}
        if not self.words <= vocabulary:
            return False
        return all(any(_contains(f, phrase) for f in fields) for phrase in self.phrases)


def story_fields(story: Story) -> list[tuple[str, ...]]:
    """The tokenised texts a watch query is matched against (a phrase never spans two)."""
    fields = [tokens(story.label), *(tokens(k) for k in story.keywords)]
    fields += [tokens(a.title) for a in story.top_articles]
    return fields


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))
