"""Settings of the enrich stage (``STORYWIRE_ENRICH_*``).

The clustering decision's weights are learned on one development set (``enrich/weights.json``,
``python -m enrich.train ../shared/eval/dev2.jsonl``); the few settings below were kept
from before and hardly move the figures on it (see enrich/README.md). Change them only with ``storywire eval``'s figures
in hand, on both sets and in every arrival order. The cores never read the environment:
they are given an ``EnrichSettings`` (``storywire.config.defaults(EnrichSettings)`` in tests).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EnrichSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STORYWIRE_ENRICH_", frozen=True, extra="ignore")

    # --- embedding workers -------------------------------------------------------------
    embed_group: str = ""  # empty: "<topic prefix>-embed" (storywire.bus.group_id)
    # A batch is embedded when it has this many articles or its oldest waited this long.
    # 100 ms, not 500: with the int8 ONNX backend a trickle's batch embeds in milliseconds,
    # and the wait was the stage's share of fetch-to-searchable (bench/e2e.py at 10/s: p95
    # 3.42 s with 500, 2.29 s with 100); under a backlog batches fill by size anyway.
    batch_max_size: int = Field(default=64, ge=1)
    batch_max_ms: int = Field(default=100, ge=1)
    lead_chars: int = Field(default=500, ge=0)  # characters of the body embedded after the title

    # --- clusterer service ---------------------------------------------------------------
    cluster_group: str = ""  # empty: "<topic prefix>-cluster"
    cluster_batch_max_size: int = Field(default=500, ge=1)
    # /livez, /readyz and /metrics of each stage (0: any free port). Always served: a stage
    # without metrics is a stage nobody can watch. `storywire run` sets one port per stage.
    embed_ops_port: int = Field(default=9102, ge=0, le=65535)
    cluster_ops_port: int = Field(default=9105, ge=0, le=65535)

    # --- clustering core -----------------------------------------------------------------
    # An article is compared with the stories whose span [first, last] comes within this
    # many days of its own date (never of a clock of the stream).
    window_days: float = Field(default=7.0, gt=0)
    # A story not seen for this long before the stream's position (the median date of the
    # last articles, which only moves forward) leaves memory as dormant. A late report
    # finds it again through the StoryLookup and revives it: this bounds memory, it does
    # not decide which stories an article can join.
    dormant_after_days: float = Field(default=14.0, gt=0)
    # Join the most probable story when P(same event) reaches this (enrich.scoring; the
    # weights are learned, see enrich/README.md), else open a new story.
    join_probability: float = Field(default=0.5, gt=0, lt=1)
    # Two stories an article qualifies for merge when P(same event) between them reaches this.
    merge_probability: float = Field(default=0.5, gt=0, lt=1)
    # Candidates are pre-screened on the semantic similarity alone.
    semantic_floor: float = Field(default=0.2)
    max_candidates: int = Field(default=12, ge=1)
    profile_terms: int = Field(default=24, ge=4)
    keywords: int = Field(default=8, ge=1)
    top_articles: int = Field(default=3, ge=1)
    label_max_words: int = Field(default=6, ge=2)
    max_snapshot_members: int = Field(default=5000, ge=1)
