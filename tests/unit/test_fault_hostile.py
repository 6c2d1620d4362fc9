"""The fault suite's hostile records are what they claim (the suite itself runs in tests/faults)."""

from __future__ import annotations

import pytest

from devtools.faults.hostile import Hostile, hostile_records
from storywire.bus import Topics
from storywire.messages import Article, EmbeddedArticle, EnrichedArticle, MalformedMessage, Message, Story, decode

TOPICS = Topics("f")
READS: dict[str, type[Message]] = {
    TOPICS.raw: Article,
    TOPICS.embedded: EmbeddedArticle,
    TOPICS.enriched: EnrichedArticle,
    TOPICS.stories: Story,
}


@pytest.mark.parametrize("h", hostile_records(TOPICS), ids=lambda h: h.kind)
def test_each_is_refused_where_it_is_read_or_fits_there(h: Hostile) -> None:
    if h.error_type == "MalformedMessage":
        with pytest.raises(MalformedMessage):
            decode(READS[h.topic], h.value)
    else:  # the oversize article is a valid article that fits the raw topic
        assert len(h.value) == 1_041_999 and decode(Article, h.value).id == "a900000"
