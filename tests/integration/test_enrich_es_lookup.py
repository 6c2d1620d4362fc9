"""Dormant stories found again in the real Elasticsearch stories index, and revived exactly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from elasticsearch import Elasticsearch

from enrich.cluster import Clusterer
from enrich.es_lookup import EsStoryLookup
from enrich.lookup import MemoryLookup
from enrich.settings import EnrichSettings
from index.client import IndexNames
from index.documents import story_action
from index.mappings import ensure_indices
from storywire.config import ElasticsearchSettings, defaults
from storywire.messages import StorySnapshot, StoryStatus, decode
from tests.unit.test_cluster_core import DIMS, T0, art, kremlin, vec

pytestmark = pytest.mark.integration

SETTINGS = defaults(EnrichSettings).model_copy(update={"dormant_after_days": 3.0})


def index_stories(es: Elasticsearch, index: str, stories: list[StorySnapshot]) -> None:
    for story in stories:
        header, doc = story_action(index, story)
        meta = header["index"]
        es.index(index=index, id=meta["_id"], document=doc, version=meta["version"], version_type="external")
    es.indices.refresh(index=index)


def test_a_restarted_clusterer_revives_a_dormant_story_from_the_index(es_settings: ElasticsearchSettings) -> None:
    es = Elasticsearch(es_settings.url)
    names = IndexNames(es_settings.index_prefix)
    ensure_indices(es, names, DIMS)
    first = [kremlin(0), kremlin(1, T0 + timedelta(hours=1))]
    later = [
        art(f"x{i}", f"Eclipse crosses North America {i}", vec("eclipse", i), T0 + timedelta(days=5)) for i in range(40)
    ]
    late = kremlin(2, T0 + timedelta(hours=5))

    # Reference: one process, every snapshot kept in memory.
    memory = MemoryLookup()
    ref = Clusterer(SETTINGS, memory)
    expected = [a.story_id for a in ref.assign_batch(first)]
    memory.add(ref.take_changes())
    ref.assign_batch(later)
    memory.add(ref.take_changes())
    expected.append(ref.assign(late).story_id)

    # The service's way: snapshots go to the stories index; the process restarts before
    # the late report comes, so only the index knows the dormant story.
    lookup = EsStoryLookup(es, names.stories)
    core = Clusterer(SETTINGS, lookup)
    got = [a.story_id for a in core.assign_batch(first)]
    wire = core.take_changes()
    core.assign_batch(later)
    wire += core.take_changes()
    assert any(s.status is StoryStatus.DORMANT for s in wire)
    index_stories(es, names.stories, wire)
    restarted = Clusterer(SETTINGS, EsStoryLookup(es, names.stories))
    restarted.restore([decode(StorySnapshot, s.to_json()) for s in wire])
    assert got[0] not in restarted.stories  # dormant: out of memory
    revived = restarted.assign(late)
    got.append(revived.story_id)
    assert got == expected and not revived.new_story
    snap = {s.id: s for s in restarted.take_changes()}[revived.story_id]
    assert snap.status is StoryStatus.ACTIVE and snap.size == 3
    assert snap.restore is not None and set(snap.restore.members) == {"k0", "k1", "k2"}
    es.close()
