"""The size budget: an article that fits at ingest fits at every later stage.

Issue #14's article (a 270 kB link, 100,000 emoji: 1,041,999 bytes of JSON) fitted the raw
topic with 4 kB to spare, and its embedded record did not fit the embedded topic. Ingest
now cuts a raw article to ``raw_article_budget``, which leaves room for the embedding (as
long as JSON writes its floats), the terms and the story fields.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from devtools.samples import oversized_article
from enrich.embed_worker import embed_articles
from enrich.features import lead
from ingest.poller import fit_message
from storywire.delivery import record_size
from storywire.embedder import Vectors
from storywire.messages import (
    BUDGET_DIMS,
    EMBED_TERM_CHARS,
    EMBED_TERMS,
    Article,
    EnrichedArticle,
    decode,
    raw_article_budget,
    stage_growth,
)

LIMIT = 1_048_576


class LongFloats:
    """An embedder whose every value is as long as JSON writes a float32 (-1.2345678e-05 style)."""

    name = "sentence-transformers/a-model-name-as-long-as-they-come-in-the-hub-v2"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> Vectors:
        rng = np.random.default_rng(7)
        v = rng.uniform(1, 2, size=(len(texts), self.dim)) * rng.choice([-1, 1], size=(len(texts), self.dim))
        v[:, 1:] *= 1.2345678e-5  # tiny values print with an exponent: the longest
        out: Vectors = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
        return out


def test_the_issue_article_no_longer_fits_at_ingest_as_it_was() -> None:
    big = oversized_article()
    assert len(big.to_json()) == 1_041_999
    assert len(big.to_json()) > raw_article_budget(LIMIT)  # it used to be let through with 4 kB to spare


@pytest.mark.parametrize("dims", [384, BUDGET_DIMS])
def test_what_ingest_lets_through_fits_the_embedded_and_enriched_topics(dims: int) -> None:
    cut = decode(Article, fit_message(oversized_article(), LIMIT))
    assert len(cut.to_json()) <= raw_article_budget(LIMIT)
    assert "text cut to fit a Kafka message" in cut.warnings
    # the worst terms a worker sends: all of them, each as long as it keeps them, in 4-byte UTF-8
    # (ideographs of CJK extension B are letters, so each run of them is one term)
    title = " ".join(chr(0x20000 + i) * EMBED_TERM_CHARS for i in range(EMBED_TERMS))
    worst = cut.model_copy(update={"title": title})
    assert len(worst.to_json()) <= raw_article_budget(LIMIT) + len(title.encode())  # the title is extra here
    worst = decode(Article, fit_message(worst, LIMIT))
    (emb,) = embed_articles([worst], LongFloats(dims), 500)
    assert len(emb.terms) == EMBED_TERMS and {len(t) for t in emb.terms} == {EMBED_TERM_CHARS}
    key = emb.id.encode()
    assert record_size(key, emb.to_json()) <= LIMIT
    enriched = EnrichedArticle.model_validate(
        emb.model_dump() | {"story_id": "st-0123456789abcdef", "similarity": -0.123456789, "story_label": title[:600]}
    )
    assert record_size(key, enriched.to_json()) <= LIMIT
    assert len(emb.to_json()) - len(worst.to_json()) <= stage_growth(dims)
    assert lead(worst, 500)  # the lead the embedding saw


def test_the_budget_follows_the_setting() -> None:
    assert raw_article_budget(LIMIT) == LIMIT - 4096 - stage_growth()
    assert raw_article_budget(4 * LIMIT) - raw_article_budget(LIMIT) == 3 * LIMIT
    assert raw_article_budget(1024) == 1024  # never below a usable floor
