"""Weighted terms: names, figures and title words weigh more; sentence starts are grammar."""

from __future__ import annotations

import pytest

from enrich.features import terms

CASES = [
    (
        "Kremlin drone attack",
        'Russia said on Wednesday. Ukraine denied it; "Moscow" says NATO and the EU. '
        "pro-Russian Zelensky 3.5 km, 1,600 people at 12:30.",
        {
            "kremlin": 2.0,
            "drone": 2.0,
            "attack": 2.0,
            "russia": 1.0,
            "ukraine": 1.0,
            "denied": 1.0,
            "moscow": 1.0,
            "nato": 2.0,
            "eu": 2.0,
            "pro": 1.0,
            "russian": 1.0,
            "zelensky": 2.0,
            "3.5": 2.0,
            "km": 1.0,
            "1600": 2.0,
            "people": 1.0,
        },
    ),
    (
        "  Leading space Name",
        "  Indented Body with Name",
        {"leading": 2.0, "space": 2.0, "name": 4.0, "indented": 2.0, "body": 2.0},  # a title's capitals are style
    ),
    (
        "Séisme en Turquie",
        "Le séisme de magnitude 7,8 a frappé Gaziantep.  Erdogan a dit.",
        {
            "seisme": 3.0,
            "turquie": 2.0,
            "magnitude": 1.0,
            "7.8": 2.0,
            "frappe": 1.0,
            "gaziantep": 2.0,
            "erdogan": 1.0,
            "dit": 1.0,
        },
    ),
]


@pytest.mark.parametrize(("title", "body", "expected"), CASES)
def test_terms_weigh_names_figures_and_title_words(title: str, body: str, expected: dict[str, float]) -> None:
    got = terms(title, body)
    assert got == expected
    assert list(got) == list(expected)  # first-seen order


def test_terms_keep_the_heaviest() -> None:
    body = " ".join(f"word{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(100))
    got = terms("Title", body, max_terms=10)
    assert len(got) == 10
    assert got["title"] == 2.0


def test_figures_and_names_are_written_alike_across_languages() -> None:
    got = terms("Microsoft streicht 10 000 Jobs", "Google despide a 12.000 trabajadores; 12,4% y 4,451.28 en Днепре.")
    assert {"10000", "12000", "12.4", "4451.28", "dnepre"} <= set(got)
    assert terms("", "Google cuts 12,000 jobs")["12000"] == 2.0


def test_the_language_of_an_undeclared_article_is_detected() -> None:
    from enrich.features import detect_language

    assert detect_language("Le Kremlin dit avoir abattu deux drones", "Moscou accuse Kiev d'une attaque.") == "fr"
    assert detect_language("Ok", "") is None
