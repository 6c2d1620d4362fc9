"""Prometheus metrics of the poller (default registry, served by runtime.OpsServer)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FETCHES = Counter("storywire_ingest_fetches_total", "Feed fetches by outcome", ["outcome"])
ERRORS = Counter("storywire_ingest_errors_total", "Feed failures by kind (see ingest.errors)", ["kind"])
ARTICLES = Counter("storywire_ingest_articles_total", "Articles produced and acknowledged")
DUPLICATES = Counter("storywire_ingest_duplicates_total", "Entries dropped as already seen")
ADAPTER_ERRORS = Counter("storywire_ingest_adapter_errors_total", "Entries that could not become an Article")
BOZO = Counter("storywire_ingest_bozo_total", "Ill-formed (bozo) feeds that were still used")
FETCH_SECONDS = Histogram("storywire_ingest_fetch_seconds", "Fetch and parse time per feed")
OWNED_FEEDS = Gauge("storywire_ingest_owned_feeds", "Feeds this poller currently owns")
FEEDS = Gauge(
    "storywire_ingest_feeds", "Owned feeds by state: ok, backoff (failing, retried later), disabled", ["state"]
)
