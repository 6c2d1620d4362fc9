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

    fresh: dict[str, corpus.StorySpec] = {
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
    evil: dict[str, corpus.StorySpec] = {
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


def test_story_page_shows_snippets_dates_as_known_and_no_growth_for_a_past_story(
    browser: WebDriver, site: Site
) -> None:
    """A 2023 story among newer ones: its date-only reports show their date, not "00:00 UTC"; each
    article has the opening of its text as plain text; growth is not shown (not live in stream
    time); the French report of the same quake is listed under "In other languages"."""
    from datetime import timedelta

    from devtools.samples import enriched, story
    from storywire.messages import StoryArticle

    day = datetime(2023, 9, 9, tzinfo=UTC)
    members = [
        (
            "a1",
            "Powerful earthquake hits Morocco near Marrakech",
            "reuters.example",
            "en",
            "day",
            "<p>A powerful earthquake struck Morocco late on Friday. Hundreds were killed in the Atlas mountains.</p>",
        ),
        (
            "a2",
            "Morocco earthquake death toll passes 800",
            "bbc.example",
            "en",
            "second",
            "The death toll from the Morocco earthquake rose above 800 on Saturday, officials said. Rescuers dug.",
        ),
    ]
    articles = []
    for n, (aid, title, source, lang, precision, content) in enumerate(members, start=1):
        t = day + timedelta(hours=0 if precision == "day" else 9, minutes=0 if precision == "day" else 41)
        articles.append(
            enriched(
                n,
                id=aid,
                story_id="q1",
                title=title,
                summary="",
                content=content,
                source=source,
                language=lang,
                url=f"https://{source}/{aid}",
                canonical_url=f"https://{source}/{aid}",
                published=t,
                published_precision=precision,
                fetched=t,
                story_label="Earthquake",
            )
        )
    french = enriched(
        3,
        id="f1",
        story_id="q2",
        title="Séisme au Maroc : plus de 800 morts",
        summary="",
        content="Un séisme a frappé le Maroc.",
        source="lemonde.example",
        language="fr",
        url="https://lemonde.example/f1",
        canonical_url="https://lemonde.example/f1",
        published=day,
        published_precision="day",
        fetched=day,
        story_label="Séisme au Maroc",
    )
    later = enriched(
        4,
        id="n1",
        story_id="z1",
        title="Hurricane Milton makes landfall",
        summary="",
        source="ap.example",
        language="en",
        url="https://ap.example/n1",
        canonical_url="https://ap.example/n1",
        published=day + timedelta(days=400),
        fetched=day + timedelta(days=400),
        story_label="Hurricane Milton",
    )
    tops = tuple(
        StoryArticle(id=a.id, title=a.title, url=a.url, source=a.source, published=a.published, language=a.language)
        for a in articles
    )
    quake = story(
        "q1",
        1,
        label="Morocco earthquake",
        headline="Powerful earthquake hits Morocco near Marrakech",
        keywords=("morocco", "earthquake", "marrakech", "800"),
        size=2,
        sources=("reuters.example", "bbc.example"),
        languages=("en",),
        first_seen=day,
        last_seen=articles[-1].published,
        updated=articles[-1].published,
        centroid=(1.0, 0, 0, 0),
        top_articles=tops,
        absorbed=(),
    )
    seisme = story(
        "q2",
        1,
        label="Séisme au Maroc",
        headline="Séisme au Maroc : plus de 800 morts",
        keywords=("seisme", "maroc", "800", "marrakech"),
        size=1,
        sources=("lemonde.example",),
        languages=("fr",),
        first_seen=day,
        last_seen=day,
        updated=day,
        centroid=(0, 1.0, 0, 0),
        top_articles=(),
        absorbed=(),
    )
    newer = story(
        "z1",
        1,
        label="Hurricane Milton",
        size=1,
        first_seen=later.published,
        last_seen=later.published,
        updated=later.published,
        centroid=(0, 0, 1.0, 0),
        top_articles=(),
        absorbed=(),
        keywords=("milton",),
        languages=("en",),
        sources=("ap.example",),
    )
    site.load([*articles, french, later], [quake, seisme, newer])

    browser.get(site.url + "/stories/q1")
    items = wait(browser, "#articles li", 2)
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Morocco earthquake"
    assert browser.find_element(By.CSS_SELECTOR, ".headline-full").text == quake.headline
    first, second = items
    assert first.find_element(By.CSS_SELECTOR, ".when").text == "2023-09-09"  # date-only: no "00:00 UTC"
    assert second.find_element(By.CSS_SELECTOR, ".when").text == "2023-09-09 09:41 UTC"
    snippets = texts(browser, "#articles .snippet")
    assert (
        snippets[0]
        == "A powerful earthquake struck Morocco late on Friday. Hundreds were killed in the Atlas mountains."
    )
    assert "<p>" not in snippets[0]
    assert snippets[1].startswith("The death toll from the Morocco earthquake rose above 800 on Saturday")
    meta = browser.find_element(By.CSS_SELECTOR, ".meta").text.lower()
    assert "growth" not in meta
    assert "first seen\n2023-09-09\n" in meta + "\n"
    other = wait(browser, "#languages li")
    assert other[0].find_element(By.CSS_SELECTOR, "a").text == "Séisme au Maroc"
    screenshot(browser, "story-date-only-snippets")
    assert no_alert(browser)
