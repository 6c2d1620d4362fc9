"""Prometheus metrics of the alert stage (default registry, served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

UPDATES = Counter("storywire_alert_updates_total", "Story updates evaluated", ["outcome"])
DECIDED = Counter("storywire_alert_decided_total", "Alerts decided", ["rule", "kind", "level"])
DELIVERIES = Counter(
    "storywire_alert_deliveries_total",
    "Delivery attempts per channel (sent, failed, rejected, abandoned)",
    ["channel", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "storywire_alert_delivery_seconds",
    "Time to hand one alert to one channel, retries included",
    ["channel"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BACKLOG = Gauge("storywire_alert_outbox_backlog", "Alerts decided but not yet delivered on every channel")
