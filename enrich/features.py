"""Text features of an article: the text to embed and the weighted terms to compare.

Pure functions, no I/O. The lexical view is what tells two events on one topic apart:
names, places and numbers ("Kremlin", "Idalia", "15", "7.8") that a sentence embedding
blurs. Terms are lower-cased, accent-folded word and number tokens of the title and the
lead; tokens that look like names or figures in the original text (capitalised inside a
sentence of the lead, all-caps, or containing a digit) and title tokens weigh more. Weights
are raw term frequencies here; the clusterer applies an inverse story frequency on top.
The words written as names in the lead are also returned on request: the clusterer
compares an article's and a story's most salient name (``enrich.scoring``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping

from storywire.messages import Article

_TOKEN = re.compile(r"[^\W_]+(?:[.,:][0-9]+)*", re.UNICODE)

# Function words of the languages we see most; content words are left to the IDF.
_STOPWORD_TEXT = """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself
    no nor not now of off on once only or other our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours yourself
    said says say new one two after amid over may might must shall us via per its it's s t re ve ll d m
    monday tuesday wednesday thursday friday saturday sunday today yesterday tonight night morning
    week weeks day days year years time times news live updates update latest report reports reported
    le la les de des du un une et en au aux est pour par sur dans que qui il elle ne pas plus ce cette
    der die das und ein eine ist im mit von zu den dem nach auf fur bei
    il lo gli di da del della che per con non una uno sono
    el los las y con por para del al es se su
    het een van op voor met zijn niet bij
    og er en et pa som med til av for den det
    o os as do da dos das em um uma com para
    wurde wurden auch unter sich nicht als wie aus sind war hat haben bis noch nur oder aber vor zum zur
    einer eines einem einen dass laut seit uber sei seine ihre ihr wird werden
    si ma tra nel nella nelle negli alla alle dei delle anche come piu stato stata dopo sul sulla ha hanno
    fue como mas pero sus tras han ha este esta estos entre sobre desde hasta segun ya muy
    foi nao mais seu sua pelo pela ao na nos apos sobre ate ja muito
    ont ete apres selon lors aussi leur leurs son ses sont avec entre sans plus tout tous
    na po iz za ot dlya eto kak chto pri pod nad posle
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


# Cyrillic and Greek letters in Latin, so that a name in a Russian or Greek report can meet
# the same name in other languages ("Днепр" -> "dnepr", "Пауэлл" -> "pauell"). Simple
# letter-by-letter transliteration: it matches names that are spelled alike, not all.
_TRANSLIT = str.maketrans(
    {
        **dict(zip("абвгдезийклмнопрстуфыэ", "abvgdezijklmnoprstufye", strict=True)),
        **{"ж": "zh", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ю": "yu", "я": "ya"},
        **{"ё": "e", "ъ": "", "ь": "", "і": "i", "ї": "i", "є": "e", "ґ": "g"},
        **dict(zip("αβγδεζηικλμνξοπρσςτυφχω", "abgdeziiklmnxoprsstyfho", strict=True)),
        **{"θ": "th", "ψ": "ps"},
    }
)


def fold(text: str) -> str:
    """Lower-case, strip accents and write Cyrillic and Greek in Latin letters, so that
    "Séisme" and "seisme" are one term, and "Днепр" is "dnepr"."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_TRANSLIT)


# Paragraphs with these (lower-cased) are page furniture, not the story.
_BOILERPLATE = (
    "click here",
    "subscribe",
    "newsletter",
    "follow us",
    "share this",
    "share the",
    "sign up",
    "cookie",
    "all rights reserved",
    "advertisement",
    "read more",
    "translate website",
    "***",
    "___",
)
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _furniture(paragraph: str) -> bool:
    low = paragraph.lower()
    return any(cue in low for cue in _BOILERPLATE)


def _prose(body: str, min_words: int = 8) -> str:
    """The paragraphs that read as prose: no bylines, datelines, menus or share prompts."""
    paragraphs = [p.strip() for p in body.splitlines() if p.strip()]
    if len(paragraphs) <= 1:
        return body
    kept = [p for p in paragraphs if len(p.split()) >= min_words and not _furniture(p)]
    return "\n".join(kept) if kept else body


def lead(article: Article, max_chars: int = 500) -> str:
    """The opening prose of the article body (content, else summary), cut at a word boundary."""
    # Only the opening can become the lead; long bodies are not cleaned to the end.
    body = (article.content.strip() or article.summary.strip())[: max_chars * 6 + 2000]
    if "](" in body:
        body = _MD_LINK.sub(r"\1", body)
    body = " ".join(_prose(body).split())
    if len(body) <= max_chars:
        return body
    cut = body.rfind(" ", 0, max_chars)
    return body[: cut if cut > max_chars // 2 else max_chars]


def embedding_text(article: Article, lead_chars: int = 500) -> str:
    """Title plus lead: what the embedding worker encodes."""
    return title_and_lead(article.title, lead(article, lead_chars))


def title_and_lead(title: str, body: str) -> str:
    title = title.strip()
    if not body:
        return title
    if body.lower().startswith(title.lower()[:40]):
        return body
    return f"{title}. {body}"


_DIGIT = re.compile(r"\d")


_THOUSANDS = re.compile(r"\d{1,3}(?:[.,]\d{3})+")  # 12,000 and 12.000 (German, Spanish...)
_DECIMAL_COMMA = re.compile(r"\d+,\d{1,2}")  # 12,4 (most of Europe) is 12.4
# 10 000 (with a space, a no-break space or a narrow one): one figure, as in French and Russian.
_SPACED_THOUSANDS = re.compile(r"(?<=\b\d)[ \u00a0\u202f](?=\d{3}\b)|(?<=\b\d\d)[ \u00a0\u202f](?=\d{3}\b)")


def _norm_token(tok: str) -> str:
    tok = fold(tok).rstrip(".,:")
    if _DIGIT.search(tok):
        if ":" in tok:  # clock times say little about which event it is
            return ""
        if _THOUSANDS.fullmatch(tok):
            return tok.replace(",", "").replace(".", "")
        if _DECIMAL_COMMA.fullmatch(tok):
            return tok.replace(",", ".")
        return tok.replace(",", "")  # 4,451.28 -> 4451.28
    return tok


# A token with what stands right before it: a sentence end ("." "!" "?" ":" ";" a newline,
# a quote, a bracket or a dash) and up to two spaces. A capitalised word there is grammar,
# not a name. Text is scanned with one findall (in C) instead of a match object per token.
_TOKEN_CTX = re.compile(r"([.!?:;\n\"“”(\[—–-]\s{0,2})?([^\W_]+(?:[.,:][0-9]+)*)", re.UNICODE)
_WORD_START = re.compile(r"[^\W_]", re.UNICODE)


def terms(
    title: str,
    body: str,
    *,
    title_weight: float = 2.0,
    name_weight: float = 2.0,
    max_terms: int = 64,
    names: set[str] | None = None,
) -> dict[str, float]:
    """Weighted terms of a title and a lead. Deterministic; keeps the ``max_terms`` heaviest.

    ``names``, when given, receives the word terms (not figures) of the lead written as a
    name at least once (capitalised inside a sentence, or in capitals). A title's capitals
    are not read as names: many headlines are in title case, which is style."""
    out: dict[str, float] = {}
    get = out.get
    stop = STOPWORDS
    for text, base, in_lead in ((title, title_weight, False), (body, 1.0, True)):
        heavy = base * name_weight
        found = names if in_lead else None
        if " " in text or "\u00a0" in text or "\u202f" in text:
            text = _SPACED_THOUSANDS.sub("", text)
        pairs = _TOKEN_CTX.findall(text)
        if pairs and _WORD_START.match(text):  # the text's first word starts a sentence
            pairs[0] = ("^", pairs[0][1])
        # Repeated (context, token) pairs are looked at once and weighed by their count
        # (weights are small integers, so the sums are exact in any order).
        for (pre, raw), n in Counter(pairs).items():
            if raw.isalpha():  # most tokens: a plain word, no figure to normalise
                tok = raw.lower() if raw.isascii() else fold(raw)
                if len(tok) < 2 or tok in stop:
                    continue
                name = raw[0].isupper() and ((len(raw) >= 2 and raw.isupper()) or (not pre and in_lead))
                if name and found is not None:
                    found.add(tok)
            else:
                tok = _norm_token(raw)
                if (len(tok) < 2 and not tok.isdigit()) or tok in stop:
                    continue
                name = (
                    _DIGIT.search(raw) is not None
                    or (len(raw) >= 2 and raw.isupper())
                    or (raw[:1].isupper() and not pre and in_lead)
                )
                if name and found is not None and not _DIGIT.search(tok):
                    found.add(tok)
            out[tok] = get(tok, 0.0) + (heavy if name else base) * n
    if len(out) > max_terms:
        out = {t: out[t] for t in top_terms(out, max_terms)}
        if names is not None:
            names.intersection_update(out)
    return out


def article_terms(
    article: Article, lead_chars: int = 500, max_terms: int = 64, names: set[str] | None = None
) -> dict[str, float]:
    return terms(article.title, lead(article, lead_chars), max_terms=max_terms, names=names)


def title_words(title: str) -> list[str]:
    """The words of a title as written (for labels), without surrounding punctuation."""
    return [s for w in title.split() if (s := w.strip("\"'“”‘’()[]:;,.!?|"))]


@functools.lru_cache(maxsize=1 << 16)  # terms repeat across stories; a lookup beats a regex
def is_figure(term: str) -> bool:
    return _DIGIT.search(term) is not None


def top_terms(weights: Mapping[str, float], n: int) -> list[str]:
    """The ``n`` heaviest terms, heaviest first, ties in alphabetical order."""
    # Two sorts in C (by term, then stably by weight) instead of one with a Python key.
    keys = sorted(weights)
    keys.sort(key=weights.__getitem__, reverse=True)  # reverse keeps ties in order
    del keys[n:]
    return keys


def detect_language(title: str, body: str) -> str | None:
    """The ISO 639-1 code of a title and lead's language, for an article whose feed does not
    declare one (py3langid: offline, a few milliseconds). None when there are too few letters
    to tell."""
    text = f"{title}. {body}" if body else title
    if sum(c.isalpha() for c in text[:400]) < 12:
        return None
    import py3langid  # loads its model on first use; most articles declare their language

    return str(py3langid.classify(text[:1000])[0])
