"""Bodies labelled UTF-8 that are not: re-decoded from the legacy encoding that fits, and said on the Article."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ingest.encoding import repair_utf8
from ingest.feeds import FeedSpec
from ingest.parse import parse_feed

FETCHED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SPEC = FeedSpec(url="https://news.example/feed.xml")


def rss(title: str, decl: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return (
        f"{decl}<rss version='2.0'><channel><title>N</title>"
        f"<item><title>{title}</title><link>https://news.example/1</link></item>"
        f"<item><title>Second</title><link>https://news.example/2</link></item></channel></rss>"
    )


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Привет, мир: новости дня. Москва объявила о новых мерах.", "windows-1251"),
        ("Привет, мир: новости дня. Москва объявила о новых мерах.", "koi8-r"),
        ("СРОЧНО: ПРАВИТЕЛЬСТВО УШЛО В ОТСТАВКУ", "windows-1251"),
        ("Le café était très bon à Noël, déjà vu.", "windows-1252"),
        ("Größere Straßen in München, sagt Müller.", "windows-1252"),
        ("Łódź i Kraków: zażółć gęślą jaźń.", "windows-1250"),
        ("Příliš žluťoučký kůň úpěl ďábelské ódy.", "windows-1250"),
        ("Καλημέρα κόσμε, ειδήσεις της ημέρας.", "windows-1253"),
        ("İstanbul'da şiddetli yağış, öğrenciler evde.", "windows-1254"),
        ("He said “don’t” – really…", "windows-1252"),
    ],
)
def test_the_legacy_encoding_that_fits_is_found(text: str, encoding: str) -> None:
    repaired = repair_utf8(rss(text).encode(encoding), "application/rss+xml; charset=utf-8")
    assert text in repaired.body.decode("utf-8")
    assert repaired.warning == f"body labelled utf-8 but in {encoding}: re-decoded"


def test_cp1251_labelled_utf8_becomes_cyrillic_with_a_warning_on_every_article() -> None:
    body = rss("Привет, мир").encode("windows-1251")
    for headers in ({"content-type": "application/rss+xml; charset=utf-8"}, {}):
        parsed = parse_feed(body, SPEC.url, headers, SPEC, FETCHED)
        assert [a.title for a in parsed.articles] == ["Привет, мир", "Second"]
        assert parsed.warnings and "windows-1251" in parsed.warnings[0]
        assert all(parsed.warnings[0] in a.warnings for a in parsed.articles)


def test_unlabelled_document_without_declaration_is_repaired_too() -> None:
    parsed = parse_feed(rss("Новости", decl="").encode("windows-1251"), SPEC.url, {}, SPEC, FETCHED)
    assert parsed.articles[0].title == "Новости"
    assert "unlabelled (so UTF-8) but in windows-1251" in parsed.articles[0].warnings[0]


def test_stray_bytes_in_utf8_are_repaired_and_the_rest_kept() -> None:
    body = rss("Café ¡Olé! «déjà»").encode("utf-8").replace(b"\xc2\xab", b"\x93").replace(b"\xc2\xbb", b"\x94")
    parsed = parse_feed(body, SPEC.url, {}, SPEC, FETCHED)
    assert parsed.articles[0].title == "Café ¡Olé! “déjà”"
    assert "2 bytes of the body" in parsed.warnings[0]


def test_correct_labels_and_other_unicode_forms_are_left_alone() -> None:
    cyrillic = rss("Привет", decl='<?xml version="1.0" encoding="windows-1251"?>').encode("windows-1251")
    parsed = parse_feed(cyrillic, SPEC.url, {}, SPEC, FETCHED)
    assert parsed.articles[0].title == "Привет" and not parsed.warnings
    utf16 = rss("Привет", decl='<?xml version="1.0" encoding="utf-16"?>').encode("utf-16")
    assert repair_utf8(utf16).warning is None
    assert parse_feed(utf16, SPEC.url, {}, SPEC, FETCHED).articles[0].title == "Привет"
    utf8 = rss("Привет").encode("utf-8")
    assert repair_utf8(utf8, "text/xml; charset=UTF-8") == repair_utf8(utf8)
    assert repair_utf8(utf8).warning is None and repair_utf8(utf8).body is utf8


def test_bytes_no_encoding_fits_are_replaced_and_said() -> None:
    body = rss("x").encode().replace(b"<title>x", b"<title>\x81\x8d\x8f\x90\x9d\x81\x8d\x8f\x90\x9d")
    repaired = repair_utf8(body)
    assert repaired.warning is not None and "no legacy encoding fits" in repaired.warning
    repaired.body.decode("utf-8")  # valid UTF-8 now, with replacement characters


def test_a_json_feed_in_cp1251_is_read() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [{"id": "1", "url": "https://a.example/1", "title": "Новости"}],
    }
    body = json.dumps(doc, ensure_ascii=False).encode("windows-1251")
    parsed = parse_feed(body, SPEC.url, {"content-type": "application/feed+json"}, SPEC, FETCHED)
    assert parsed.articles[0].title == "Новости" and "windows-1251" in parsed.articles[0].warnings[0]
