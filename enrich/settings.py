"""Settings of the enrich stage (``STORYWIRE_ENRICH_*``).

The clustering thresholds were tuned on the development set (see ``enrich.eval``) for
events in general, not for its particular articles; change them only with the eval's
figures in hand.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EnrichSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STORYWIRE_ENRICH_", frozen=True, extra="ignore")

    # --- embedding workers -------------------------------------------------------------
    embed_group: str = ""  # empty: "<topic prefix>-embed" (storywire.bus.group_id)
    # A batch is embedded when it has this many articles or its oldest waited this long.
    batch_max_size: int = Field(default=64, ge=1)
    batch_max_ms: int = Field(default=500, ge=1)
    lead_chars: int = Field(default=500, ge=0)  # characters of the body embedded after the title

    # --- clusterer service ---------------------------------------------------------------
    cluster_group: str = ""  # empty: "<topic prefix>-cluster"
    cluster_batch_max_size: int = Field(default=500, ge=1)
    ops_port: int = Field(default=0, ge=0)  # 0 = no ops HTTP server

    # --- clustering core -----------------------------------------------------------------
    # Stories last seen more than this long before an article are not candidates for it.
    window_days: float = Field(default=7.0, gt=0)
    # A story not seen for this long (in stream time) becomes dormant and leaves memory.
    dormant_after_days: float = Field(default=7.0, gt=0)
    # score = (1 - lexical_weight) * semantic + lexical_weight * lexical - time penalty
    lexical_weight: float = Field(default=0.2, ge=0, le=1)
    time_weight: float = Field(default=0.3, ge=0)
    time_scale_days: float = Field(default=3.0, gt=0)
    # Penalty per conflicting figure (a number the article stresses that the story never had).
    conflict_weight: float = Field(default=0.15, ge=0)
    join_threshold: float = Field(default=0.5)
    # Added to the score of a story whose articles' languages are known and do not include
    # the article's (also known), that has two or more articles and shares at least one
    # term (a name, a place, a figure) with the article.
    # With an English-only model (the default) the cosine of two reports of one event in
    # two languages is far lower than in one; this lets the first report in a new language
    # join. Without the two conditions a lone foreign report attracted unrelated ones in
    # the eval's one-day mode. Set 0 with a multilingual model.
    cross_language_bonus: float = Field(default=0.3, ge=0)
    merge_threshold: float = Field(default=0.7)
    # Candidates are pre-screened on the semantic similarity alone.
    semantic_floor: float = Field(default=0.3)
    max_candidates: int = Field(default=12, ge=1)
    profile_terms: int = Field(default=24, ge=4)
    keywords: int = Field(default=8, ge=1)
    top_articles: int = Field(default=3, ge=1)
    label_max_words: int = Field(default=6, ge=2)
    max_snapshot_members: int = Field(default=5000, ge=1)
