"""Prometheus metrics of the poller (default registry, served by runtime.OpsServer)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FETCHES = Counter("storywire_ingest_fetches_total", "Feed fetches by outcome", ["outcome"])
ERRORS = Counter("storywire_ingest_errors_total", "Feed failures by kind (see ingest.errors)", ["kind"])
ARTICLES = Counter("storywire_ingest_articles_total", "Articles produced and acknowledged")
DUPLICATES = Counter("storywire_ingest_duplicates_total", "Entries dropped as already seen")
ADAPTER_ERRORS = Counter("storywire_ingest_adapter_errors_total", "Entries that could not become an Article")
BOZO = Counter("storywire_ingest_bozo_total", "Ill-formed (bozo) feeds that were still used")
# Up to and past the 30 s fetch deadline (IngestSettings.deadline_s): the default buckets
# stopped at 10 s, so every slow feed landed in +Inf.
FETCH_SECONDS = Histogram(
    "storywire_ingest_fetch_seconds",
    "Fetch and parse time per feed",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 45, 60, 120),
)
OWNED_FEEDS = Gauge("storywire_ingest_owned_feeds", "Feeds this poller currently owns")
FEEDS = Gauge(
    "storywire_ingest_feeds", "Owned feeds by state: ok, backoff (failing, retried later), disabled", ["state"]
)
