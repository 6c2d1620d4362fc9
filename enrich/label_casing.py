"""Titles as the namer (``enrich.labels``) reads them: cleaned, and cased the way their text writes them.

Pure and deterministic, no I/O.

- ``clean_title``: the title without outlet suffixes (" - Reuters", " | BBC News") and
  furniture ("BREAKING:", ": Live updates").
- ``naming_title``: a title whose casing is unknown (taken from a URL slug, so lower-case
  past its first letter, or shouted in capitals) cased as the article's own text writes its
  words inside a sentence: "hurricane ian makes landfall in florida" becomes "Hurricane Ian
  makes landfall in Florida", "indias" "India's", "seisme au maroc" "Séisme au Maroc", and
  the pieces a slug splits, "7 4" and "u s", become "7.4" and "U.S." when the text has them.
  Called once per member when it joins a story, with the opening of its text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter

from enrich import label_words as lw
from enrich.features import fold

# A word of running text with what joins its parts: "U.S.", "India's", "Chandrayaan-3", "7.4", "10,000".
_TEXT_WORD = re.compile(r"[^\W_]+(?:[.,'’\-–][^\W_]+)*\.?", re.UNICODE)
_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_JOINERS = frozenset(".,'’-–")
_EDGE = "\"'“”‘’«»()[]{},:;!?|."
_SENTENCE_END = frozenset('.!?:;"“”»—|\n')
TEXT_CHARS = 1200  # the opening of an article's text that casing is read from


def key(word: str) -> str:
    return fold(word).strip(lw.QUOTES)


def _squash(word: str) -> str:
    return _NOT_ALNUM.sub("", fold(word))


@functools.lru_cache(maxsize=8192)
def clean_title(title: str, source: str = "") -> str:
    """The title without outlet suffixes (" - Reuters", " | BBC News") and furniture ("BREAKING:")."""
    text = " ".join(title.split())
    if _plain(text):  # most titles: no separator, no furniture word (the regexes cost more)
        return _capitalised(text)
    for _ in range(2):
        parts = lw.OUTLET_SPLIT.split(text)
        if len(parts) >= 2 and _is_outlet(parts[-1], source) and len(" ".join(parts[:-1]).split()) >= 3:
            text = text[: text.rfind(parts[-1])].rstrip(" |-–—")
        text = lw.SUFFIX_FURNITURE.sub("", text)
    stripped = lw.PREFIX.sub("", text)
    stripped = lw.PREFIX_BARE.sub("", stripped) if len(stripped.split()) > 3 else stripped
    if len(stripped.split()) >= 2:
        text = stripped
    return _capitalised(text)


def _capitalised(text: str) -> str:
    """The first letter in upper case, unless the first word has capitals of its own ("iPhone")."""
    first = text.split(" ", 1)[0]
    return text[:1].upper() + text[1:] if text[:1].islower() and first[1:] == first[1:].lower() else text


_FURNITURE_CHARS = frozenset("|-–—:(")


def _plain(text: str) -> bool:
    if not _FURNITURE_CHARS.isdisjoint(text):
        return False
    low = text.lower()
    return not low.startswith(lw.PREFIX_WORDS) and not any(w in low for w in lw.SUFFIX_WORDS)


def _is_outlet(part: str, source: str) -> bool:
    words = part.split()
    if not words or len(words) > 5:
        return False
    squashed = re.sub(r"[^a-z0-9]", "", fold(part))
    site = re.sub(r"[^a-z0-9]", "", fold(source.split("/")[-1].rsplit(".", 1)[0])) if source else ""
    if squashed and site and (squashed in site or site in squashed):
        return True
    if "." in part and " " not in part.strip():  # "nytimes.com"
        return True
    if len(words) <= 4 and all(w[:1].isupper() for w in words):  # " – US Coast Guard": who said it
        return True
    return any(key(w).strip(".,") in lw.OUTLET_WORDS for w in words)


def flat(title: str) -> bool:
    """A title with no capital past its first letter (a URL slug): its casing is unknown."""
    rest = title[1:]
    return rest == rest.lower() and sum(map(str.isalpha, rest)) > 8


def shouting(title: str) -> bool:
    letters = sum(map(str.isalpha, title))
    return letters > 8 and sum(map(str.isupper, title)) > 0.8 * letters


def unknown_case(title: str) -> bool:
    return flat(title) or shouting(title)


# ----------------------------------------------------------------------------- from the text


def _letters(word: str) -> str:
    """Lower-case letters and digits without accents, in their own script (unlike ``fold``,
    which writes Cyrillic in Latin: a slug's "v brovarah" must not take the text's "В")."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


# An abbreviation's dot ends no sentence: "the U.S. Geological Survey", "Gen. Pavel".
_ABBREVIATION = re.compile(r"(?:\b\w\.){2,}$|\b(?:Mr|Mrs|Ms|Dr|St|Gen|Lt|Col|Sgt|Rep|Sen|Gov|Prof|Jr|Sr|Mt)\.$")


def _sentence_start(text: str, at: int) -> bool:
    """Whether the word at ``at`` opens the text or a sentence (or a heading): its capital says nothing."""
    k = at - 1
    while k >= 0 and text[k] in " \t\"'“‘«(":
        k -= 1
    if k < 0:
        return True
    if text[k] not in _SENTENCE_END:
        return False
    return text[k] != "." or _ABBREVIATION.search(text[max(0, k - 8) : k + 1]) is None


def _text_forms(text: str) -> dict[str, str]:
    """Squashed word -> how the text writes it inside a sentence (most often), for words it
    writes there; a word seen only at a sentence's start keeps its accents and inner marks.
    A possessive also tells its noun ("Iran's": "Iran"), a hyphenated word its parts
    ("7.4-magnitude": "7.4")."""
    inside: dict[str, Counter[str]] = {}
    opening: dict[str, str] = {}
    for m in _TEXT_WORD.finditer(text):
        word = m.group()
        if word.endswith(".") and word.count(".") == 1:
            word = word[:-1]  # a full stop, not an abbreviation's dot ("U.S." keeps both)
        starts = _sentence_start(text, m.start())
        if word.isupper() and len(word) > 5 and not any(c.isdigit() for c in word):
            continue  # a shouted dateline or heading ("PRAGUE"), not an acronym
        parts = [word]
        if word[-2:] in ("'s", "’s") and len(word) > 3:
            parts.append(word[:-2])
        if "-" in word or "–" in word:
            parts += [p for p in re.split(r"[-–]", word) if p]
        for part in parts:
            sq = _squash(part)
            if not sq:
                continue
            if starts:
                if not part.isupper():  # its first capital says nothing; "SpaceX" keeps its inner one
                    opening.setdefault(sq, part if _inner_capital(part) else part[:1].lower() + part[1:])
            else:
                inside.setdefault(sq, Counter())[part] += 1
    out = {sq: form for sq, form in opening.items() if form[1:] != form[1:].lower() or not form.isascii()}
    for sq, forms in inside.items():
        # Ties go to the form with lower-case letters ("Nikkei" over "NIKKEI"), then the first seen.
        out[sq] = max(forms, key=lambda f: (forms[f], not f.isupper()))
    return out


def naming_title(title: str, text: str) -> tuple[str, bool]:
    """(the title cased as its text writes its words, whether its casing was unknown).

    A properly cased title comes back as it is. Only the first ``TEXT_CHARS`` characters of
    ``text`` are read: the opening names what the title names."""
    if not unknown_case(title):
        return title, False
    forms = _text_forms(text[:TEXT_CHARS]) if text else {}
    raw = title.split()
    low = shouting(title)
    out: list[str] = []
    i = 0
    while i < len(raw):
        word = raw[i]
        core = word.strip(_EDGE)
        # Two pieces a slug split ("7 4", "u s", "chandrayaan 3") written as one word in the text.
        if i + 1 < len(raw) and core and core == word:
            nxt = raw[i + 1].strip(_EDGE)
            form = _form(forms, core + nxt) if nxt else None
            if form is not None and any(c in _JOINERS for c in form) and raw[i + 1].endswith(nxt):
                out.append(form + raw[i + 1][len(raw[i + 1].rstrip(_EDGE)) :])
                i += 2
                continue
        form = _form(forms, core) if core and key(core) not in lw.FUNCTION else None
        if form is not None and "." in form.strip(".") and not core.isdigit():
            form = None  # "us" is not "U.S.": dots only where the slug split the word (or a figure's)
        if form is not None:
            out.append(word.replace(core, form, 1))
        else:
            out.append(word.lower() if low else word)
        i += 1
    cased = " ".join(out)
    if out and _inner_capital(out[0]):  # "iPhone 14 ...", not "IPhone"
        return cased, True
    return cased[:1].upper() + cased[1:], True


def _inner_capital(word: str) -> bool:
    return word[1:] != word[1:].lower()


def _form(forms: dict[str, str], word: str) -> str | None:
    form = forms.get(_squash(word))
    return form if form is not None and _letters(form) == _letters(word) else None
