"""Swagger UI at /docs in headless chromium, offline and under the pages' CSP: it renders the
API from our own origin, breaks no policy, and its Authorize button takes the bearer token.

Elasticsearch is not needed: the page reads only /openapi.json.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch
from pydantic import SecretStr
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from index.client import IndexNames
from index.settings import IndexSettings
from search.api import create_app
from search.service import SearchService
from search.web import mount_web
from tests.browser.conftest import screenshot, serve

pytestmark = [pytest.mark.browser, pytest.mark.integration]

WAIT_S = 30
# Runs before any page script and whatever the page's policy: it records each violation.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", e => window.__violations.push(e.violatedDirective));
"""


@pytest.fixture
def docs_url() -> Iterator[str]:
    es = Elasticsearch("http://127.0.0.1:9", max_retries=0, request_timeout=2)  # never asked
    search = SearchService(es, IndexNames("docs"), IndexSettings())
    app = create_app(search, lambda: (True, {}), SecretStr("s3cret"))
    mount_web(app, search, SecretStr("s3cret"))
    try:
        with serve(app) as url:
            yield url
    finally:
        es.close()


def test_swagger_ui_renders_offline_under_the_csp_with_an_authorize_button(browser: WebDriver, docs_url: str) -> None:
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    browser.get(docs_url + "/docs")
    wait = WebDriverWait(browser, WAIT_S)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock-summary-path"))
    paths = {e.text.replace("\u200b", "") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/stories", "/api/stories/{story_id}", "/health"} <= paths
    authorize = browser.find_element(By.CSS_SELECTOR, "button.authorize")
    authorize.click()
    dialog = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".auth-container"))[0]
    assert "bearer" in dialog.text and "http, Bearer" in dialog.text
    screenshot(browser, "api-docs-authorize")

    origin = urlsplit(docs_url).netloc
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(urlsplit(u).netloc == origin for u in loaded), loaded
    assert browser.execute_script("return window.__violations") == []
    # The recorder sees a violation when there is one: an inline script is refused.
    browser.execute_script("const s = document.createElement('script'); s.text = '1'; document.body.append(s)")
    wait.until(lambda d: d.execute_script("return window.__violations").count("script-src-elem") == 1)
