"""`storywire demo`: the whole pipeline on bundled feeds, with no internet.

What it does, in order:

1. starts the local stack (`storywire stack up`), downloading what is missing;
2. wipes the previous demo (its topics under the ``demo`` prefix, its indices, its state);
3. serves the bundled demo feeds on 127.0.0.1 (some articles are released while it runs);
4. starts a local webhook receiver, so alerts are printed as they arrive;
5. runs every stage as its own supervised process (ingest, embed, cluster, index, alert, api);
6. prints the stories it found and the URL of the web page, then keeps running until
   Ctrl-C; with ``--once`` it waits until every demo article is searchable, prints the
   stories as JSON and exits.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from devtools.stack import Stack
from devtools.stack.settings import StackSettings
from storywire.app.supervisor import STAGES, Supervisor
from storywire.config import cache_dir, load

DEMO_RULES = {
    "rules": [
        {
            "name": "breaking",
            "kind": "breaking",
            "min_articles": 3,
            "min_sources": 3,
            "window": "6h",
            "channels": ["webhook"],
        },
        {"name": "watch-fire", "kind": "watch", "query": "fire", "new_within": "30d", "channels": ["webhook"]},
    ]
}


@dataclass
class WebhookInbox:
    """A local Slack-compatible webhook receiver that keeps and announces what it gets."""

    announce: Callable[[str], None]
    received: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> str:
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"text": body.decode(errors="replace")}
                inbox.received.append(payload)
                inbox.announce(f"ALERT  {payload.get('text', '')}".splitlines()[0])
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wipe(prefix: str, stack: Stack, state: Path | None = None) -> None:
    """Remove the topics and indices under ``prefix``, and the ``state`` folder, so every run starts clean."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=stack.kafka.bootstrap)
    try:
        ours = [t for t in admin.list_topics() if t.startswith(prefix + ".")]
        if ours:
            admin.delete_topics(ours)
            for _ in range(60):  # deletion is asynchronous; recreate only once they are gone
                if not any(t.startswith(prefix + ".") for t in admin.list_topics()):
                    break
                time.sleep(0.5)
    finally:
        admin.close()
    rows = httpx.get(f"{stack.elasticsearch.url}/_cat/indices/{prefix}-*", params={"format": "json"}, timeout=30)
    for row in rows.json() if rows.status_code == 200 else []:
        httpx.delete(f"{stack.elasticsearch.url}/{row['index']}", timeout=30)
    if state is not None:
        shutil.rmtree(state, ignore_errors=True)


def _host(feed_url: str) -> str:
    """The outlet host in a demo feed URL: http://127.0.0.1:PORT/<host>/feed.xml."""
    return httpx.URL(feed_url).path.split("/")[1]


def _stories(api: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{api}/api/stories", params={"sort": "growth", "size": 50}, timeout=10)
    resp.raise_for_status()
    body = resp.json()
    results: list[dict[str, Any]] = body.get("results", body.get("stories", []))
    return results


def _print_table(stories: list[dict[str, Any]], out: Callable[[str], None]) -> None:
    out(f"{'size':>4} {'srcs':>4}  label")
    for s in stories:
        out(f"{s.get('size', 0):>4} {s.get('source_count', len(s.get('sources', []))):>4}  {s.get('label', '')}")


def _article_count(es_url: str, prefix: str) -> int:
    try:
        resp = httpx.get(f"{es_url}/{prefix}-articles/_count", timeout=5)
        return int(resp.json().get("count", 0)) if resp.status_code == 200 else 0
    except (httpx.HTTPError, ValueError):
        return 0


def run_demo(once: bool, port: int, prefix: str = "demo", timeout_s: float = 600.0) -> int:
    """Run the demo under ``prefix`` (topics, indices, state); return the exit status."""
    from devtools.demo.corpus import load_demo_articles
    from devtools.demo.feedserver import DemoFeedServer

    def say(line: str) -> None:
        print(line, flush=True)

    t0 = time.monotonic()
    stack = Stack(load(StackSettings))
    say("demo: starting Kafka and Elasticsearch (first run downloads them) ...")
    stack.up()
    state = cache_dir() / prefix
    wipe(prefix, stack, state)
    state.mkdir(parents=True, exist_ok=True)

    feeds = DemoFeedServer()
    feeds.start()
    inbox = WebhookInbox(say)
    hook = inbox.start()
    feeds_file = state / "feeds.yaml"
    feeds_file.write_text(
        yaml.safe_dump(
            {
                "feeds": [
                    # every outlet is served from 127.0.0.1, so its source is named explicitly
                    {"url": url, "name": name, "source": _host(url), "language": lang, "interval": 10}
                    for name, url, lang in feeds.feed_urls()
                ]
            }
        )
    )
    rules_file = state / "alerts.yaml"
    rules_file.write_text(yaml.safe_dump(DEMO_RULES))
    api = f"http://127.0.0.1:{port}"
    env = dict(os.environ) | {
        "STORYWIRE_KAFKA_BOOTSTRAP_SERVERS": stack.kafka.bootstrap,
        "STORYWIRE_KAFKA_TOPIC_PREFIX": prefix,
        "STORYWIRE_ES_URL": stack.elasticsearch.url,
        "STORYWIRE_ES_INDEX_PREFIX": prefix,
        "STORYWIRE_INGEST_FEEDS_FILE": str(feeds_file),
        "STORYWIRE_INGEST_STATE_DIR": str(state / "ingest"),
        "STORYWIRE_INGEST_ALLOW_PRIVATE": "true",
        "STORYWIRE_INGEST_MIN_INTERVAL_S": "5",
        "STORYWIRE_INGEST_COORDINATION": "none",
        "STORYWIRE_ALERT_RULES_FILE": str(rules_file),
        "STORYWIRE_ALERT_STATE_DIR": str(state / "alert"),
        "STORYWIRE_ALERT_WEBHOOK_URLS": hook,
        "STORYWIRE_ALERT_STORY_URL": api + "/stories/{story_id}",
        "STORYWIRE_INDEX_API_PORT": str(port),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    stages = dict(STAGES) | {"api": ["api", "--host", "127.0.0.1", "--port", str(port)]}
    sup = Supervisor(stages, env, ops_base_port=None)
    expected = len(load_demo_articles())
    say(f"demo: serving {len(feeds.feed_urls())} demo feeds ({expected} articles, some released over the next minutes)")
    say("demo: starting ingest, embed, cluster, index, alert and api ...")
    sup.start()
    try:
        return _watch(once, sup, stack, prefix, api, expected, inbox, say, t0, timeout_s)
    finally:
        sup.stop()
        feeds.stop()
        inbox.stop()


def _watch(
    once: bool,
    sup: Supervisor,
    stack: Stack,
    prefix: str,
    api: str,
    expected: int,
    inbox: WebhookInbox,
    say: Callable[[str], None],
    t0: float,
    timeout_s: float,
) -> int:
    from storywire.runtime import Stopper

    stop = Stopper.install()
    shown = -1
    announced = False
    deadline = time.monotonic() + timeout_s
    while not stop.is_set():
        sup.tick()
        indexed = _article_count(stack.elasticsearch.url, prefix)
        if indexed != shown:
            say(f"demo: {indexed}/{expected} articles searchable ({time.monotonic() - t0:.0f}s)")
            shown = indexed
        if indexed and not announced and not once:
            say(f"demo: the web page and API are at {api}/  (Ctrl-C stops the demo; the stack keeps running)")
            announced = True
        if indexed >= expected:
            time.sleep(3)  # let the last story snapshots land
            stories = _stories(api)
            if once:
                json.dump({"stories": stories, "alerts": inbox.received}, sys.stdout, indent=2, default=str)
                print()
                return 0
            _print_table(stories, say)
            say(f"demo: all {expected} articles are in; {len(stories)} stories. Browse {api}/ ; Ctrl-C to stop.")
            stop.wait()
            break
        if time.monotonic() > deadline:
            say(f"demo: gave up after {timeout_s:.0f}s with {indexed}/{expected} articles searchable")
            return 1
        time.sleep(2)
    return 0
