"""`storywire doctor`'s verdicts and masking, without servers (the real run: tests/integration/test_doctor.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from alert.settings import AlertSettings
from enrich.settings import EnrichSettings
from index.settings import IndexSettings
from ingest.settings import IngestSettings
from storywire.app.doctor import _stage_overrides, stage_urls
from storywire.app.probes import Masker, check_feeds, disk_finding, lag_finding
from storywire.app.sections import effective
from storywire.commands import UsageError
from storywire.config import ElasticsearchSettings


def test_masker_removes_url_credentials_and_secrets() -> None:
    es = ElasticsearchSettings(url="https://elastic:pa55word@es.example:9200", api_key=SecretStr("k3y-secret"))
    mask = Masker([es])
    text = "GET https://elastic:pa55word@es.example:9200 failed (pa55word; key k3y-secret)"
    assert mask(text) == "GET https://***@es.example:9200 failed (***; key ***)"


def test_config_show_masks_credentials_in_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYWIRE_ES_URL", "http://elastic:pa55word@127.0.0.1:9200")
    assert effective()["es"]["url"] == "http://***@127.0.0.1:9200"


def test_disk_verdicts() -> None:
    gib = 2**30
    assert disk_finding("disk", Path("/s"), 50 * gib, 100 * gib).status == "ok"
    assert disk_finding("disk", Path("/s"), 2 * gib, 100 * gib).status == "warn"  # under 5 %
    assert disk_finding("disk", Path("/s"), gib // 2, 2 * gib).status == "warn"  # under 1 GiB
    low = disk_finding("disk", Path("/s"), 10 * 2**20, 100 * gib)
    assert low.status == "fail" and low.fix and low.data["free_bytes"] == 10 * 2**20


def test_lag_verdicts() -> None:
    assert lag_finding("g", None, 10).status == "warn"
    ok = lag_finding("g", {"t.raw": 3}, 10)
    assert ok.status == "ok" and ok.detail == "3 records behind (t.raw 3)" and ok.data["lag"] == 3
    assert lag_finding("g", {"a": 6, "b": 6}, 10).status == "warn"
    assert lag_finding("g", {"a": 0}, 0).detail == "0 records behind"


def test_feeds_without_state_are_skipped_and_nothing_is_created(tmp_path: Path) -> None:
    state = tmp_path / "none"
    assert check_feeds(state).status == "skip"
    assert not state.exists()


def _loaded(**ports: int) -> dict[str, object]:
    return {
        "ingest": IngestSettings(ops_port=ports.get("ingest", 9101)),
        "enrich": EnrichSettings(embed_ops_port=ports.get("embed", 0), cluster_ops_port=ports.get("cluster", 0)),
        "index": IndexSettings(ops_port=9103, api_host="0.0.0.0", api_port=8000),
        "alert": AlertSettings(ops_port=9104),
    }


def test_stage_urls_from_settings_run_layout_and_overrides() -> None:
    urls = stage_urls(_loaded(), "127.0.0.1", None, {})
    assert urls == {
        "ingest": "http://127.0.0.1:9101",
        "embed": None,
        "cluster": None,
        "index": "http://127.0.0.1:9103",
        "alert": "http://127.0.0.1:9104",
        "api": "http://127.0.0.1:8000",  # listening on every address: asked on the ops host
    }
    defaults = stage_urls(_loaded(embed=9102, cluster=9105), "127.0.0.1", None, {})
    assert defaults["embed"] == "http://127.0.0.1:9102" and defaults["cluster"] == "http://127.0.0.1:9105"
    run = stage_urls(_loaded(), "h", 9401, {"alert": "off", "api": "http://api:8080"})
    assert run["ingest"] == "http://h:9401" and run["cluster"] == "http://h:9403" and run["index"] == "http://h:9404"
    assert run["alert"] is None and run["api"] == "http://api:8080"


def test_stage_override_syntax_is_a_usage_error() -> None:
    assert _stage_overrides(["ingest=http://ingest:8081", "api=off"]) == {"ingest": "http://ingest:8081", "api": "off"}
    for bad in ("ingest", "nope=http://x:1", "index=ftp://x"):
        with pytest.raises(UsageError):
            _stage_overrides([bad])
