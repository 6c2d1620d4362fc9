"""Fixtures of the browser tests: the real API plus the web page served by uvicorn in a
thread, and one headless Debian chromium per module, driven through /usr/bin/chromedriver.

Nothing here downloads a browser or a driver: the paths are given, so Selenium Manager
is never asked for one.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from index.client import IndexNames, make_client
from index.documents import article_action, story_action
from index.mappings import ensure_indices
from storywire.config import ElasticsearchSettings
from storywire.messages import EnrichedArticle, Story

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DIMS = 4
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@dataclass
class Site:
    url: str
    es_settings: ElasticsearchSettings

    def load(self, articles: Iterable[EnrichedArticle] = (), stories: Iterable[Story] = ()) -> None:
        """Index messages with the writer's own actions and refresh, as the index stage would."""
        names = IndexNames(self.es_settings.index_prefix)
        es = make_client(self.es_settings)
        try:
            ensure_indices(es, names, DIMS)
            body: list[dict[str, Any]] = []
            for a in articles:
                body += article_action(names.articles, a)
            for s in stories:
                body += story_action(names.stories, s)
            if body:
                resp = es.bulk(operations=body, refresh=True)
                assert not resp["errors"], resp
        finally:
            es.close()


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def site(es_settings: ElasticsearchSettings) -> Iterator[Site]:
    """The API with the web page mounted, over this test's (initially empty) indices."""
    from index.settings import IndexSettings
    from search.api import create_app
    from search.service import SearchService
    from search.web import mount_web

    es = make_client(es_settings)
    ensure_indices(es, IndexNames(es_settings.index_prefix), DIMS)
    search = SearchService(es, IndexNames(es_settings.index_prefix), IndexSettings())  # text only: no model
    app = create_app(search, lambda: (True, {}))
    mount_web(app, search)
    try:
        with serve(app) as url:
            yield Site(url, es_settings)
    finally:
        es.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.TemporaryDirectory(prefix="storywire-chromium-")
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={profile.name}",
    ]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        profile.cleanup()


def screenshot(driver: WebDriver, name: str) -> Path:
    """A full-height screenshot of the current page under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    width = driver.execute_script("return window.innerWidth")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    size = driver.get_window_size()
    driver.set_window_size(size["width"], min(4000, max(size["height"], height + 150)))
    try:
        assert driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(size["width"], size["height"])
    assert width > 0
    return path
