"""The analysts' web page in headless chromium, against the real API over real Elasticsearch.

One browser for the module; each test gets its own indices and server (``site``).
Waits have generous deadlines: they guard against a hang, they do not measure speed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser import corpus
from tests.browser.conftest import Site, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PAYLOAD = '<img src=x onerror="window.__xss=1;alert(1)">'
WAIT_S = 30


def wait(driver: WebDriver, css: str, count: int = 1) -> list[WebElement]:
    """Elements matching ``css`` once there are at least ``count`` of them."""
    WebDriverWait(driver, WAIT_S).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, css)) >= count)
    return driver.find_elements(By.CSS_SELECTOR, css)


def texts(driver: WebDriver, css: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def live_texts(driver: WebDriver, css: str) -> list[str]:
    """The matching elements' texts read in one script: on a page that re-renders itself (the Now
    view) an element found by one call may be gone by the next, which read its text."""
    script = "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText)"
    return list(driver.execute_script(script, css))


def no_alert(driver: WebDriver) -> bool:
    try:
        driver.switch_to.alert.dismiss()
    except NoAlertPresentException:
        return True
    return False


def test_search_open_a_story_and_follow_a_filter(browser: WebDriver, site: Site) -> None:
    site.load(*corpus.build(corpus.STORIES))
    browser.get(site.url + "/")
    box = wait(browser, "#q")[0]
    box.send_keys("kremlin drone", Keys.ENTER)  # the keyboard path: type, press Enter
    WebDriverWait(browser, WAIT_S).until(lambda d: "q=kremlin+drone" in d.current_url)
    cards = wait(browser, ".card")
    first = cards[0]
    assert first.find_element(By.CSS_SELECTOR, "h2").text == "Kremlin drone attack"
    assert [k.text for k in first.find_elements(By.CSS_SELECTOR, ".keyword")] == ["kremlin", "drone", "moscow"]
    meta = first.find_element(By.CSS_SELECTOR, ".meta").text.lower()
    for expected in ["7 articles", "sources\n4", "languages\nenrufr", "first seen\n", "last seen\n", " utc"]:
        assert expected in meta
    headlines = [a.text for a in first.find_elements(By.CSS_SELECTOR, ".headlines a.headline")]
    assert headlines[0] == "Video appears to show drone exploding above Kremlin dome"
    assert len(headlines) == 3
    wait(browser, ".card .spark-slot svg.spark rect")  # the sparkline came from /api/web/timelines
    screenshot(browser, "search")

    first.find_element(By.CSS_SELECTOR, "a.story-link").send_keys(Keys.ENTER)  # a real link: Enter follows it
    wait(browser, "#articles li", 7)  # its own six articles and the one of the story it absorbed
    assert browser.current_url.endswith("/stories/s1")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Kremlin drone attack"
    titles = texts(browser, "#articles .headline")
    assert titles[0] == "Drones hit the Kremlin overnight, Moscow says"  # oldest first
    assert titles[-1] == "Video appears to show drone exploding above Kremlin dome"
    assert "Drone debris found near Red Square" in titles
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline svg rect.bar")
    assert texts(browser, "#sources li")[0].split("\n") == ["bbc.example", "2"]
    related = wait(browser, "#related li")
    assert related[0].find_element(By.CSS_SELECTOR, "a").text == "Drone strike on Moscow oil refinery"
    assert "Debris found near Red Square" not in texts(browser, "#related a")  # absorbed, not "related"
    assert texts(browser, "#absorbed a") == ["Debris found near Red Square"]
    screenshot(browser, "story")

    source = next(a for a in browser.find_elements(By.CSS_SELECTOR, "#sources a") if a.text == "tass.example")
    source.click()
    wait(browser, ".card")
    assert "source=tass.example" in browser.current_url
    assert sorted(texts(browser, ".card h2")) == ["Drone strike on Moscow oil refinery", "Kremlin drone attack"]
    assert texts(browser, "#active-filters a") == ["source: tass.example ×"]
    assert browser.find_element(By.ID, "source").get_attribute("value") == "tass.example"

    Select(browser.find_element(By.ID, "sort")).select_by_value("recency")
    browser.find_element(By.ID, "q").send_keys(Keys.ENTER)
    WebDriverWait(browser, WAIT_S).until(lambda d: "sort=recency" in d.current_url)
    wait(browser, ".card")
    assert texts(browser, ".card h2") == ["Kremlin drone attack", "Drone strike on Moscow oil refinery"]
    screenshot(browser, "search-filtered")
    assert no_alert(browser)


def test_now_view_refreshes_with_a_new_story(browser: WebDriver, site: Site) -> None:
    site.load(*corpus.build(corpus.STORIES))
    browser.get(site.url + "/now?refresh=1&hours=6")
    wait(browser, ".now-item")
    labels = live_texts(browser, ".now-item h2")
    # Stories with articles in the last six hours, most articles first; the merged one counts for s1.
    assert labels == ["Kremlin drone attack", "Drone strike on Moscow oil refinery"]
    assert "+7 in the last 6 h" in live_texts(browser, ".now-item")[0]
    before = live_texts(browser, "#status")[0]

    fresh = {
        "v1": (
            "Volcano erupts in Iceland",
            ("volcano", "iceland"),
            corpus._unit(0, 0, 0, 1),
            [(m, f"src{m}.example", "en", f"Eruption update {m}") for m in (9, 8, 7, 5, 4, 3, 2, 1)],
        )
    }
    site.load(*corpus.build(fresh, start=500, now=datetime.now(UTC)))
    WebDriverWait(browser, WAIT_S).until(lambda d: "Volcano erupts in Iceland" in live_texts(d, ".now-item h2"))
    assert live_texts(browser, ".now-item h2")[0] == "Volcano erupts in Iceland"  # 8 new articles beat 7
    assert "+8 in the last 6 h" in live_texts(browser, ".now-item")[0]
    assert live_texts(browser, "#status")[0] != before
    screenshot(browser, "now")


def test_an_xss_payload_in_a_feed_stays_inert_text(browser: WebDriver, site: Site) -> None:
    evil = {
        "x1": (
            PAYLOAD,
            (PAYLOAD,),
            corpus._unit(1, 1, 1, 1),
            [(5, "<b>evil</b>.example", "en", PAYLOAD), (3, "evil.example", "en", "javascript link")],
        )
    }
    articles, stories = corpus.build(evil)
    articles = [a.model_copy(update={"url": "javascript:alert(1)"}) for a in articles]
    tops = tuple(t.model_copy(update={"url": "javascript:alert(1)"}) for t in stories[0].top_articles)
    site.load(articles, [stories[0].model_copy(update={"top_articles": tops})])

    for path, css in [("/", ".card h2"), ("/stories/x1", "#articles li"), ("/now?refresh=60", ".now-item h2")]:
        browser.get(site.url + path)
        shown = wait(browser, css)
        assert no_alert(browser)
        assert browser.find_elements(By.TAG_NAME, "img") == []  # the markup was never parsed
        assert browser.execute_script("return window.__xss") is None
        assert PAYLOAD in browser.find_element(By.TAG_NAME, "main").text
        assert PAYLOAD in shown[0].text
        hrefs = [a.get_attribute("href") or "" for a in browser.find_elements(By.TAG_NAME, "a")]
        assert not [h for h in hrefs if h.lower().startswith("javascript:")]
        withheld = browser.find_elements(By.CSS_SELECTOR, ".nolink")
        assert withheld and all(e.tag_name == "span" for e in withheld)
        if path == "/stories/x1":
            assert "<b>evil</b>.example" in texts(browser, "#sources a")
            screenshot(browser, "xss-story")
    screenshot(browser, "xss-now")


def test_pages_fit_a_phone_screen(browser: WebDriver, site: Site) -> None:
    site.load(*corpus.build(corpus.STORIES))
    size = browser.get_window_size()
    browser.set_window_size(390, 844)
    try:
        for path, css, name in [
            ("/?q=kremlin", ".card .spark", "search-phone"),
            ("/stories/s1", "#related li", "story-phone"),
            ("/now?refresh=60", ".now-item", "now-phone"),
        ]:
            browser.get(site.url + path)
            wait(browser, css)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"
            screenshot(browser, name)
    finally:
        browser.set_window_size(size["width"], size["height"])
