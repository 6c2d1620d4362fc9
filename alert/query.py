"""The saved-search language of watch rules, evaluated against a Story snapshot.

It is the query language of the story search box (``storywire.analysis.Query``): words,
all of which must match, and optionally "quoted phrases" whose words must appear next to
each other. Words are compared by their stems after case and accent folding, exactly as
the search service compares them in Elasticsearch, so "drone" matches "Drones" and
"seisme" matches "Séisme". Matching looks at the story's label, its headline, its keywords
and the titles of its top articles. Nothing in the text is query syntax for a search engine
(no AND/OR, no field:value, no wildcards), so a saved search means the same thing here as
in the search box, where the stories that hold every word rank first.

    kremlin drone            both words, anywhere in the story's text
    "air defence" moscow     the phrase, and the word
"""

from __future__ import annotations

from dataclasses import dataclass

from storywire import analysis
from storywire.messages import Story


@dataclass(frozen=True)
class Query:
    """A parsed saved search (see ``storywire.analysis.Query``)."""

    parsed: analysis.Query

    @property
    def text(self) -> str:
        return self.parsed.text

    @classmethod
    def parse(cls, text: str) -> Query:
        """Parse user text; raise ValueError when nothing searchable is left."""
        return cls(analysis.Query.parse(text))

    def matches(self, story: Story) -> bool:
        return self.parsed.matches(story_fields(story))


def story_fields(story: Story) -> list[str]:
    """The texts a watch query is matched against (a phrase never spans two)."""
    return [story.label, story.headline, *story.keywords, *(a.title for a in story.top_articles)]
