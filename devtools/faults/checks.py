"""What the fault suite reads back at the end, and the invariants it checks.

- ``read_topic``: every record of a topic, from the beginning, without a consumer group.
- ``es_articles`` / ``es_stories``: every article (url, story_id) and every story
  (version, status, merged_into, the document's ``_version``) in Elasticsearch.
- ``story_regressions``: per story id, snapshots on the stories topic whose version is
  lower than one before it (a regression), and equal versions with different content.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import httpx
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from storywire.bus import client_config
from storywire.config import KafkaSettings
from storywire.messages import EnrichedArticle, MessageError, Story, decode


def read_topic(settings: KafkaSettings, topic: str) -> list[ConsumerRecord]:
    consumer = KafkaConsumer(
        **client_config(settings), enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024
    )
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        out: list[ConsumerRecord] = []
        while any(consumer.position(tp) < end[tp] for tp in parts):
            for batch in consumer.poll(timeout_ms=2000).values():
                out.extend(batch)
        return out
    finally:
        consumer.close()


def _scan(es_url: str, index: str, fields: list[str]) -> list[dict[str, Any]]:
    """Every document of an index (search_after on _id's doc order), with _id, _version and fields."""
    hits: list[dict[str, Any]] = []
    after: list[Any] | None = None
    while True:
        body: dict[str, Any] = {"size": 5000, "_source": fields, "version": True, "sort": ["_doc"]}
        if after is not None:
            body["search_after"] = after
        resp = httpx.post(f"{es_url}/{index}/_search", json=body, timeout=60)
        resp.raise_for_status()
        page = resp.json()["hits"]["hits"]
        if not page:
            return hits
        hits.extend(page)
        after = page[-1]["sort"]


def es_articles(es_url: str, prefix: str) -> list[dict[str, Any]]:
    httpx.post(f"{es_url}/{prefix}-articles/_refresh", timeout=60)
    return _scan(es_url, f"{prefix}-articles", ["url", "story_id"])


def es_stories(es_url: str, prefix: str) -> dict[str, dict[str, Any]]:
    httpx.post(f"{es_url}/{prefix}-stories/_refresh", timeout=60)
    rows = _scan(es_url, f"{prefix}-stories", ["version", "status", "merged_into", "size"])
    return {h["_id"]: {**h["_source"], "_version": h.get("_version")} for h in rows}


def es_count(es_url: str, prefix: str, timeout: float = 1.0) -> int | None:
    try:
        resp = httpx.get(f"{es_url}/{prefix}-articles/_count", timeout=timeout)
        return int(resp.json()["count"]) if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def story_snapshots(records: list[ConsumerRecord]) -> dict[str, list[dict[str, Any]]]:
    """Per story id, the snapshots a reader accepts, in topic order (the suite's poison and
    hostile records, such as a version of 2^63, and tombstones left out)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in sorted(records, key=lambda r: (r.partition, r.offset)):
        if rec.value is None:
            continue
        try:
            snap = decode(Story, rec.value)
        except MessageError:
            continue
        out[snap.id].append(snap.model_dump(mode="json"))
    return out


def story_regressions(snaps: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[str], int]:
    """(regressions, same-version conflicts, same-version replays) over the stories topic."""
    regressions: list[str] = []
    conflicts: list[str] = []
    replays = 0
    for sid, seq in snaps.items():
        best: dict[int, dict[str, Any]] = {}
        top = -1
        for snap in seq:
            v = snap["version"]
            if v < top:
                regressions.append(f"{sid}: version {v} after {top}")
            if v in best:
                a, b = best[v], snap
                if (a.get("size"), a.get("status"), a.get("merged_into")) != (
                    b.get("size"),
                    b.get("status"),
                    b.get("merged_into"),
                ):
                    conflicts.append(f"{sid}: two snapshots of version {v} (size {a.get('size')} / {b.get('size')})")
                else:
                    replays += 1
            best[v] = snap
            top = max(top, v)
    return regressions, conflicts, replays


def placements(records: list[ConsumerRecord]) -> dict[str, set[str]]:
    """Per article id on the enriched topic, the story ids it was placed in. Only records a
    reader accepts count: the suite's poison and hostile records (a NaN similarity...) on that
    topic were placed by nobody, and the index dead-letters them."""
    out: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        if rec.value is None:
            continue
        try:
            msg = decode(EnrichedArticle, rec.value)
        except MessageError:
            continue
        out[msg.id].add(msg.story_id)
    return out


def resolve(story_id: str, stories: dict[str, dict[str, Any]]) -> str | None:
    """Follow merged_into to the story that holds an article now; None when a link is missing."""
    seen: set[str] = set()
    while story_id in stories and story_id not in seen:
        seen.add(story_id)
        nxt = stories[story_id].get("merged_into")
        if stories[story_id].get("status") != "merged" or not nxt:
            return story_id
        story_id = nxt
    return None


def duplicates(counter: Counter[str]) -> int:
    return sum(c - 1 for c in counter.values() if c > 1)
