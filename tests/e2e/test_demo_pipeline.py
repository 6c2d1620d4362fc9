"""End to end: every stage as its own process against the real stack, on feeds served locally.

`storywire demo --once` serves the bundled feeds (some articles are released while it
runs), starts ingest, embed, cluster, index, alert and api as supervised processes,
waits until every article is searchable and prints the stories (from the HTTP API) and
the alerts (received by a local webhook) as JSON.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from devtools.demo.corpus import load_demo_articles
from devtools.demo.pipeline import wipe
from devtools.stack import Stack

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_feeds_become_stories_and_an_alert(stack: Stack, prefix: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ) | {"XDG_CACHE_HOME": str(tmp_path), "STORYWIRE_STACK_DIR": str(stack.settings.dir)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "storywire.app.cli",
            "demo",
            "--once",
            "--prefix",
            prefix,
            "--port",
            str(_free_port()),
            "--timeout",
            "400",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=540,
        check=False,
    )
    try:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        out = proc.stdout
        result = json.loads(out[out.index("{") :])
        stories = result["stories"]
        articles = load_demo_articles()
        assert sum(s["size"] for s in stories) >= len(articles) * 0.9  # the story list is the top 50 by growth
        assert max(s["size"] for s in stories) >= 3
        # the alert for the story that breaks during the run reached the local webhook
        assert result["alerts"], "no alert arrived at the webhook"
        assert all(a.get("text") for a in result["alerts"])
    finally:
        wipe(prefix, stack, tmp_path / prefix)
