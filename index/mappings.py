"""Explicit mappings, the versioned index layout, and ``migrate``.

    <prefix>-articles  (alias) -> <prefix>-articles-vN
    <prefix>-stories   (alias) -> <prefix>-stories-vN

Mappings are ``dynamic: strict``: a field we did not plan for is a mapping error (and
the document goes to the dead-letter topic) instead of a silently guessed type. Text
fields use the configured analyzer (``standard`` by default; a full distribution can use
a language analyzer). Vectors are ``dense_vector`` sized to the model, indexed for kNN
with cosine similarity.

``migrate`` creates version N+1 with the current mappings, copies every document in the
client (the integ-test-zip has no ``_reindex``; stories keep their external version),
swaps each alias in one atomic ``_aliases`` call, then copies once more to pick up
writes that reached the old index during the first copy.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError, helpers

from index.client import IndexNames
from index.documents import derived_article, derived_story
from index.errors import MigrationError
from storywire.runtime import Progress

log = logging.getLogger(__name__)

_KEYWORD = {"type": "keyword"}
_DATE = {"type": "date"}


def _text(analyzer: str) -> dict[str, Any]:
    return {"type": "text", "analyzer": analyzer}


# Client-analysed stems (``storywire.analysis.analyse``): split on spaces, nothing else, since
# the integ-test-zip has no stemmer and no folding filter (see the README).
_STEMS = {"type": "text", "analyzer": "whitespace"}


def _vector(dims: int) -> dict[str, Any]:
    return {"type": "dense_vector", "dims": dims, "index": True, "similarity": "cosine"}


def article_mappings(dims: int, analyzer: str = "standard") -> dict[str, Any]:
    return {
        "dynamic": "strict",
        "properties": {
            "id": _KEYWORD,
            "url": {"type": "keyword", "index": False},
            "canonical_url": _KEYWORD,
            "feed_url": _KEYWORD,
            "source": _KEYWORD,
            "title": _text(analyzer),
            "summary": _text(analyzer),
            "content": _text(analyzer),
            "authors": _KEYWORD,
            "tags": _KEYWORD,
            "language": _KEYWORD,
            "published": _DATE,
            "published_from": _KEYWORD,
            "published_precision": _KEYWORD,
            "fetched": _DATE,
            "warnings": _KEYWORD,
            "embedding": _vector(dims),
            "model": _KEYWORD,
            "story_id": _KEYWORD,
            "similarity": {"type": "float"},
            "story_label": _text(analyzer),
            "stems": _STEMS,
            # The opening sentences as plain text, shown on the story page; not searched.
            "snippet": {"type": "text", "index": False},
        },
    }


def story_mappings(dims: int, analyzer: str = "standard") -> dict[str, Any]:
    return {
        "dynamic": "strict",
        "properties": {
            "id": _KEYWORD,
            "version": {"type": "long"},
            "label": _text(analyzer),
            "headline": _text(analyzer),
            "keywords": {**_text(analyzer), "fields": {"raw": _KEYWORD}},
            # Titles of the member articles the snapshot carries, for BM25 over "member titles".
            "titles": _text(analyzer),
            "stems": _STEMS,
            "size": {"type": "integer"},
            "source_count": {"type": "integer"},
            "sources": _KEYWORD,
            "languages": _KEYWORD,
            "first_seen": _DATE,
            "last_seen": _DATE,
            "updated": _DATE,
            # Articles per hour over the story's life so far; what "sort by growth" orders by.
            "growth": {"type": "float"},
            "centroid": _vector(dims),
            "top_articles": {"type": "object", "enabled": False},
            "status": _KEYWORD,
            "merged_into": _KEYWORD,
            "absorbed": _KEYWORD,
        },
    }


def _mappings_for(alias: str, names: IndexNames, dims: int, analyzer: str) -> dict[str, Any]:
    return article_mappings(dims, analyzer) if alias == names.articles else story_mappings(dims, analyzer)


_SETTINGS = {"index": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}}


def missing_aliases(es: Elasticsearch, names: IndexNames) -> list[str]:
    return [alias for alias in names.aliases() if not es.indices.exists_alias(name=alias)]


def ensure_indices(es: Elasticsearch, names: IndexNames, dims: int, analyzer: str = "standard") -> None:
    """Create ``-v1`` behind each alias unless the alias exists already (idempotent). An existing
    index gets the fields added since it was made (adding is all a mapping update may do; the
    documents written before lack them until ``migrate`` copies and re-derives them)."""
    for alias in names.aliases():
        if es.indices.exists_alias(name=alias):
            props = _mappings_for(alias, names, dims, analyzer)["properties"]
            have = es.indices.get_mapping(index=alias)
            missing = {
                k: v
                for k, v in props.items()
                if any(k not in m["mappings"].get("properties", {}) for m in have.values())
            }
            if missing:
                es.indices.put_mapping(index=alias, properties=missing)
                log.info("index fields added", extra={"alias": alias, "fields": sorted(missing)})
            continue
        index = IndexNames.versioned(alias, 1)
        try:
            es.indices.create(
                index=index,
                mappings=_mappings_for(alias, names, dims, analyzer),
                settings=_SETTINGS,
                aliases={alias: {"is_write_index": True}},
            )
        except Exception as exc:
            # Two services starting together: the other one created it first.
            if "resource_already_exists_exception" not in str(exc):
                raise
        log.info("index created", extra={"index": index, "alias": alias, "dims": dims})


def current_index(es: Elasticsearch, alias: str) -> str:
    try:
        found = list(es.indices.get_alias(name=alias).body)
    except NotFoundError as exc:
        raise MigrationError(f"alias {alias} does not exist; run the writer (or ensure_indices) first") from exc
    if len(found) != 1:
        raise MigrationError(f"alias {alias} points to {len(found)} indices, expected 1: {sorted(found)}")
    return str(found[0])


def index_version(index: str) -> int:
    match = re.search(r"-v(\d+)$", index)
    if not match:
        raise MigrationError(f"index {index} does not end in -v<N>")
    return int(match.group(1))


def vector_dims(es: Elasticsearch, index: str) -> int:
    props = es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    field = "embedding" if "embedding" in props else "centroid"
    return int(props[field]["dims"])


@dataclass(frozen=True)
class Migrated:
    alias: str
    old: str
    new: str
    copied: int


def _copy_actions(
    es: Elasticsearch, source: str, dest: str, external: bool, fields: frozenset[str]
) -> Iterator[dict[str, Any]]:
    for hit in helpers.scan(es, index=source, query={"query": {"match_all": {}}}, version=True, size=500):
        # Fields derived from the document (stems, snippet) are computed again: a field the
        # old version did not have is filled in, and a changed analysis reaches old documents.
        doc = derived_story(hit["_source"]) if external else derived_article(hit["_source"])
        # Only the fields the new mappings know: a field dropped from them (the clusterer's
        # state some stories indices held) must not make the copy a strict-mapping error.
        doc = {k: v for k, v in doc.items() if k in fields}
        action: dict[str, Any] = {"_op_type": "index", "_index": dest, "_id": hit["_id"], "_source": doc}
        if external:
            action |= {"version": hit["_version"], "version_type": "external_gte"}
        yield action


def _counted(actions: Iterator[dict[str, Any]], progress: Progress) -> Iterator[dict[str, Any]]:
    for action in actions:
        progress.step()
        yield action
    progress.done()


def _copy(es: Elasticsearch, source: str, dest: str, external: bool) -> int:
    progress = Progress(f"copy {source} to {dest}", log, total=int(es.count(index=source)["count"]))
    fields = frozenset(es.indices.get_mapping(index=dest)[dest]["mappings"]["properties"])
    ok, errors = helpers.bulk(
        es,
        _counted(_copy_actions(es, source, dest, external, fields), progress),
        raise_on_error=False,
        stats_only=False,
        chunk_size=500,
    )
    assert isinstance(errors, list)  # stats_only=False: a list of failed items
    failed = [e for e in errors if next(iter(e.values())).get("status") != 409]
    if failed:
        raise MigrationError(f"{len(failed)} documents failed to copy from {source} to {dest}: {failed[0]}")
    return int(ok)


def migrate(
    es: Elasticsearch, names: IndexNames, dims: int | None = None, analyzer: str = "standard", delete_old: bool = False
) -> list[Migrated]:
    """Move each alias to a new index version with the current mappings."""
    done = []
    for alias in names.aliases():
        old = current_index(es, alias)
        new = IndexNames.versioned(alias, index_version(old) + 1)
        size = dims or vector_dims(es, old)
        es.indices.create(index=new, mappings=_mappings_for(alias, names, size, analyzer), settings=_SETTINGS)
        external = alias == names.stories
        copied = _copy(es, old, new, external)
        es.indices.update_aliases(
            actions=[
                {"remove": {"index": old, "alias": alias}},
                {"add": {"index": new, "alias": alias, "is_write_index": True}},
            ]
        )
        es.indices.refresh(index=old)
        copied = max(copied, _copy(es, old, new, external))  # writes that raced the first copy
        es.indices.refresh(index=new)
        if delete_old:
            es.indices.delete(index=old)
        log.info("alias migrated", extra={"alias": alias, "old": old, "new": new, "copied": copied})
        done.append(Migrated(alias, old, new, copied))
    return done
