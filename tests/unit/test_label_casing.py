"""A title taken from a URL slug, cased as its article's text writes its words (``label_casing``).

The texts are invented for the tests: they only need to write the words the way news copy does.
"""

from __future__ import annotations

from enrich.label_casing import naming_title


def test_a_properly_cased_title_comes_back_as_it_is() -> None:
    title = "Hurricane Ian makes landfall in Florida"
    assert naming_title(title, "hurricane ian made landfall in florida") == (title, False)


def test_a_slug_takes_the_casing_its_text_writes_inside_sentences() -> None:
    text = (
        "Officials said Hurricane Ian made landfall near Fort Myers on Wednesday. The storm then "
        "crossed Florida, and the governor said the damage was severe."
    )
    got, slug = naming_title("Hurricane ian makes landfall near fort myers", text)
    assert slug
    assert got == "Hurricane Ian makes landfall near Fort Myers"


def test_pieces_a_slug_split_are_joined_as_the_text_writes_them() -> None:
    text = (
        "A 7.4-magnitude earthquake struck off Taiwan, the U.S. Geological Survey said, "
        "as did India's Chandrayaan-3 team."
    )
    assert naming_title("74 magnitude earthquake hits taiwan", text)[0] == "7.4-magnitude earthquake hits Taiwan"
    assert naming_title("7 4 earthquake hits taiwan", text)[0] == "7.4 earthquake hits Taiwan"
    assert naming_title("U s geological survey reports earthquake", text)[0].startswith("U.S. Geological Survey")
    assert naming_title("Chandrayaan 3 indias historic landing", text)[0] == "Chandrayaan-3 India's historic landing"


def test_accents_come_back_and_other_scripts_are_left_alone() -> None:
    text = "Le bilan du séisme qui a frappé le Maroc s'alourdit, selon le ministère."
    assert naming_title("Seisme au maroc le bilan s alourdit", text)[0] == "Séisme au Maroc le bilan s'alourdit"
    # fold() writes Cyrillic in Latin letters; a transliterated slug must not take the Cyrillic word.
    got, _ = naming_title("V brovarah zavershili spasatelnye raboty", "В Броварах завершили спасательные работы.")
    assert got == "V brovarah zavershili spasatelnye raboty"


def test_function_words_shouted_headings_and_pronouns_stay_lower_case() -> None:
    text = (
        "WASHINGTON (AP) — IN a statement in Washington, the Fed said it would hold rates. US officials told us more."
    )
    got, _ = naming_title("Fed holds rates in washington and tells us why", text)
    assert got == "Fed holds rates in Washington and tells us why"


def test_a_shouted_title_is_cased_from_its_text() -> None:
    text = "Six people died in a shooting at a home in Goshen, California, on Monday."
    got, slug = naming_title("SIX DEAD IN CALIFORNIA HOME SHOOTING", text)
    assert slug
    assert got == "Six dead in California home shooting"
