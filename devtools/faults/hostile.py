"""Hostile records for the fault suite: valid JSON whose values no stage may choke on (issue #14).

Each is put on the topic a stage consumes, beside the suite's malformed poison, and must
end in the dead-letter topic with the reason below while the stage goes on:

    raw         the issue's article: a 270 kB link and 100,000 emoji, 1,041,999 bytes of
                JSON; it fits the raw topic, but its embedded record would not fit the
                embedded topic                                            -> OutputTooLarge
    embedded    an embedding of 1e308 (inf in float32), one of 5e-324 (zero in float32),
                a term weight of NaN                                      -> MalformedMessage
    enriched    a similarity of NaN                                       -> MalformedMessage
    stories     a version of 2^63, a centroid of NaN                      -> MalformedMessage
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from devtools.samples import T0, article, oversized_article, story
from storywire.bus import Topics


class Hostile(NamedTuple):
    topic: str
    kind: str
    value: bytes
    error_type: str  # the storywire.error_type its dead letter must carry


def _embedded(n: int, **fields: Any) -> dict[str, Any]:
    unit = [1.0] + [0.0] * 383
    base: dict[str, Any] = json.loads(article(n).to_json())
    return base | {"embedding": unit, "model": "all-MiniLM-L6-v2"} | fields


def hostile_records(topics: Topics) -> list[Hostile]:
    bad_story = json.loads(story("poison-story", 1, centroid=(1.0, 0.0, 0.0, 0.0), updated=T0).to_json())
    nan_terms = json.dumps(_embedded(900_002)).replace('"model"', '"terms": {"drone": NaN}, "model"')
    enriched = _embedded(900_004) | {"story_id": "s", "similarity": float("nan"), "story_label": "x"}
    return [
        Hostile(topics.raw, "oversize-article", oversized_article(n=900_000).to_json(), "OutputTooLarge"),
        Hostile(
            topics.embedded,
            "float32-overflow",
            json.dumps(_embedded(900_001, embedding=[1e308] * 384)).encode(),
            "MalformedMessage",
        ),
        Hostile(
            topics.embedded,
            "float32-underflow",
            json.dumps(_embedded(900_003, embedding=[5e-324] * 384)).encode(),
            "MalformedMessage",
        ),
        Hostile(topics.embedded, "nan-weight", nan_terms.encode(), "MalformedMessage"),
        Hostile(topics.enriched, "nan-similarity", json.dumps(enriched).encode(), "MalformedMessage"),
        Hostile(
            topics.stories, "version-2^63", json.dumps(bad_story | {"version": 2**63}).encode(), "MalformedMessage"
        ),
        Hostile(
            topics.stories,
            "nan-centroid",
            json.dumps(bad_story | {"centroid": [float("nan")] * 4}).encode(),
            "MalformedMessage",
        ),
    ]
