"""The word lists ``enrich.labels`` cuts titles with: function words, phrase breaks, headline
verbs, title furniture and outlet names, in the languages the feeds use most. Data only;
words are folded (lower case, no accents), as ``enrich.features.fold`` makes them.
"""

from __future__ import annotations

import re


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words that may not start or end a label (beyond the clusterer's stopwords).
FUNCTION = _set(
    """a an the of to and or but nor for in on at by with from into onto over under as is are was were be been
    has have had will would can could may might must shall should do does did not no than that this these those
    its it his her their our your my which who whom whose what when where while why how amid after before
    le la les l un une des du de d au aux et ou en par pour sur dans avec sans selon apres
    der die das den dem des ein eine einer eines und oder mit von zu zum zur im am auf fur nach bei uber
    el los las lo un una unos unas y o con por para del al en sobre tras segun
    o os a as um uma e ou com por para do da dos das no na nos nas em ao pelo pela
    il lo gli i un uno una e o con per di da del della dei degli delle nel nella al alla su sul sulla
    het een en of met van voor naar op bij uit
    dan di ke dari yang untuk pada dengan dalam"""
)
# Words a phrase may end right before, or start right after: prepositions, conjunctions,
# relatives and verbs of attribution, in the languages the feeds use most.
BREAKS = _set(
    """after against ahead amid amidst among as at because before behind but by despite during following for
    from if in inside into near on onto over since so than that though through to toward towards under until
    upon via when where whereas which while who whom whose with within without says said say according
    off across around about along beyond between outside past throughout including like per
    killing leaving resulting causing sparking prompting forcing injuring may might could would will can should
    and or of
    a au aux apres avant avec chez contre dans de des du en entre et ou par pour sans selon sous sur vers
    qui que dont malgre pendant
    an auf aus bei durch fur gegen mit nach ohne seit uber um unter von vor wahrend wegen zu zum zur und oder
    al ante bajo con del desde durante hacia hasta para por segun sin sobre tras y pero
    ao apos com da do das dos em na no nas nos pela pelo sem sob
    ai alla alle agli allo coi dal dalla dai dagli di della delle degli dei nel nella nei negli per su sul sulla
    tra fra dopo ma che
    aan achter door met naar om op tegen tot uit van voor maar die dat
    di ke dari dalam pada untuk dengan oleh
    january february march april june july august september october november december"""
)
# A span that ends before one of these usually lacks its complement ("Part of ...", "UBS agrees to ...").
WEAK_ENDS = frozenset({"of", "to", "de", "di", "van", "von"})
# A span never starts right after these: what follows is a verb or half of a pair
# ("to send ...", "and escapes ...", "but necessary ...").
NO_START_AFTER = frozenset(
    {
        "to",
        "and",
        "or",
        "but",
        "nor",
        "et",
        "ou",
        "mais",
        "und",
        "oder",
        "aber",
        "y",
        "o",
        "pero",
        "e",
        "ma",
        "en",
        "maar",
        "dan",
        "zu",
        "that",
        "which",
        "who",
        "than",
    }
)
# After these a whole clause may follow ("... as | Storm Oriel batters coast"); after other breaks, an object.
SUBORDINATORS = frozenset(
    {
        "as",
        "when",
        "while",
        "because",
        "although",
        "though",
        "after",
        "before",
        "until",
        "since",
        "if",
        "whereas",
        "amid",
        "quand",
        "lorsque",
        "alors",
        "als",
        "wenn",
        "nachdem",
        "cuando",
        "mientras",
        "quando",
        "enquanto",
        "dopo",
        "mentre",
        "terwijl",
        "nadat",
    }
)
# A label never runs across one of these: what follows is another clause.
NO_CROSS = frozenset(
    {
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "as",
        "when",
        "while",
        "because",
        "although",
        "though",
        "if",
        "whereas",
        "unless",
        "which",
        "who",
        "whom",
        "whose",
        "that",
        "where",
        "but",
    }
)
# A span ending right before these names who said it, not what happened ("U.S. Coast Guard says").
ATTRIBUTION = frozenset(
    {"says", "said", "say", "according", "claims", "reports", "reported", "confirms", "tells", "told"}
)
# Fillers that make a poor label wherever they are ("at least", "more than", "au moins").
FILLERS = frozenset({"least", "than", "moins", "mindestens", "menos", "almeno"})
# Common headline verbs: a subject ends right before one ("Major earthquake off Noto Peninsula | triggers
# ..."), and a span ending on a transitive one lacks its object ("Russian strike on Dnipro kills").
VERBS = _set(
    """hits hit kills killed kill strikes struck strike makes made make triggers triggered trigger leaves left
    unveils unveiled launches launched announces announced cuts cut raises raised holds held keeps kept
    wins won takes took sends sent signs signed orders ordered sees saw shows showed destroys destroyed
    targets targeted slams slammed batters battered rocks rocked jolts jolted ravages ravaged devastates
    devastated buys bought acquires acquired approves approved rejects rejected blames blamed warns warned
    faces faced defends defended thanks thanked seizes seized shuts brings brought rolls introduces
    introduced debuts debuted elects elected confirms confirmed claims claimed reports reported tells told
    eliminates ditches ditching replaces replaced embraces surprises surprised pushes pushed emerge emerges
    try tries says said found believed presumed seen quit"""
)
INTRANSITIVE = _set(
    """resigns resigned dies died collapses collapsed crashes crashed lands landed erupts erupted explodes
    exploded surrenders flees fled falls fell rises rose plunges plunged soars soared sinks sank tumbles
    rebounds rebounded rallies rallied quits"""
)
# Punctuation that closes a clause inside a title.
CLAUSE_END = re.compile(r"[,:;!?|)\]}»”\"]+$")
CLAUSE_START = re.compile(r"^[(\[{«“\"]+")
SEPARATORS = frozenset({"-", "–", "—", "|", "/", "•", "·", "::"})
QUOTES = "\"'“”‘’«»"

# Leading furniture: "BREAKING:", "Live updates:", "UPDATE -", "WATCH:" ...
PREFIX = re.compile(
    r"^\s*(?:breaking(?:\s+news)?|live(?:\s+updates?)?|updated?|watch|video|exclusive|just\s+in|urgente|"
    r"eilmeldung|en\s+direct|en\s+vivo|ao\s+vivo|report|analysis)\s*[:\-–—|]\s*",
    re.IGNORECASE,
)
PREFIX_BARE = re.compile(r"^\s*(?:breaking(?:\s+news)?|urgente|just\s+in)\s+", re.IGNORECASE)
# Trailing furniture: ": Live updates", " - live", "(Update2)", "veja imagens impactantes".
SUFFIX_FURNITURE = re.compile(
    r"\s*(?:[:\-–—|]\s*(?:live(?:\s+updates?)?|latest(?:\s+updates?)?|updates?)|\((?:update\s*\d*|video|photos?)\)"
    r"|[:\-–—|]?\s*(?:veja|assista|watch|see|mira)\s+(?:as\s+|the\s+|las\s+)?(?:imagens|images|video|vídeo|photos|fotos)"
    r"(?:\s+\w+)?)\s*$",
    re.IGNORECASE,
)
# The words PREFIX, PREFIX_BARE and SUFFIX_FURNITURE look for: a title with none of them (and no
# separator) has no furniture.
PREFIX_WORDS = (
    "breaking",
    "live",
    "update",
    "watch",
    "video",
    "exclusive",
    "just in",
    "urgente",
    "eilmeldung",
    "en direct",
    "en vivo",
    "ao vivo",
    "report",
    "analysis",
)
SUFFIX_WORDS = ("veja", "assista", "watch", "see ", "mira", "latest", "update")
OUTLET_SPLIT = re.compile(r"\s+[|\-–—]\s+")
OUTLET_WORDS = _set(
    """news times post reuters bbc cnn ap afp guardian journal tribune herald daily online tv radio press agency
    mail express telegraph jazeera bloomberg nbc abc cbs fox npr sky dw france24 euronews independent
    standard gazette chronicle observer review today magazine insider wire politico axios"""
)
# Words that name what happened (the event, not who or where), in the feeds' languages, folded:
# a label should hold one ("Kursk incursion", not "Russia's Kursk region").
EVENTS = _set(
    """earthquake earthquakes quake quakes tremor tremors aftershock tsunami hurricane typhoon cyclone storm
    tornado flood floods flooding wildfire wildfires fire fires blaze inferno explosion explosions blast blasts
    implosion crash crashes crashed collision derailment shooting shootings massacre attack
    attacks attacked strike strikes airstrike airstrikes bombing bombings raid raids incursion invasion
    offensive assault barrage missile missiles drone drones killing killings landslide eruption erupts
    erupted outbreak collapse collapses collapsed bankruptcy takeover merger acquisition deal layoffs layoff
    resignation resigns resigned resign quit quits election elections vote runoff referendum victory final verdict
    ruling arrest arrested indictment indicted breach hack hacked leak recall recalls protest protests unrest
    riot riots coup ceasefire truce landfall landing lands landed launch launches launched liftoff splashdown
    hike hikes cut cuts cutting raise raises raised lifts hold holds held keeps kept leaves unchanged steady
    plunge plunges plunged selloff sell-off rally rallies rallied rebound rebounds rebounded tumble tumbles
    tumbled dives sinks sank soars soared jobs workforce deaths dead killed kills kill dies died evacuate
    evacuation hits hit struck strikes slams slammed batters battered ravages ravaged devastates devastated
    destroys destroyed destruction shakes shook jolts jolted rocks rocked unveils unveiled debuts debuted
    introduces announces announced buys bought acquires acquired seizes seized shut shuttered wins won
    elected defeats defeated beats edges flees fled sacks sacking slashes slashing laying lay shed sheds
    missing disappearance rescue sentenced convicted stun stuns
    seisme tremblement attaque attentat incendie ouragan tempete inondations fusillade frappe frappes
    bombardement demission morts tues tue meurt effondrement
    erdbeben anschlag angriff brand feuer sturm hurrikan uberschwemmung absturz schiesserei raketenbeschuss
    raketenangriff rakete raketen wahl stichwahl rucktritt tote getotet streicht entlassungen
    terremoto sismo ataque atentado explosion incendio huracan tormenta inundaciones accidente tiroteo misiles
    bombardeo elecciones eleccion dimision renuncia muertos muertes despide despidos
    explosao furacao tempestade enchentes acidente queda cai caiu tiroteio misseis bombardeio eleicao
    renuncia mortos
    sisma attacco esplosione uragano alluvione incidente sparatoria missili bombardamento elezioni dimissioni
    morti schianta
    aardbeving aanslag aanval explosie orkaan overstroming schietpartij verkiezing verkiezingen ontslag doden
    helikoptercrash
    gempa serangan ledakan kebakaran badai banjir kecelakaan penembakan rudal pemilu tewas"""
)
# A span never starts right after these: what follows belongs to the noun before ("Bank of | Japan",
# "attaque de | missiles").
GENITIVES = frozenset({"of", "de", "di", "da", "do", "das", "dos", "del", "della", "des", "du", "van", "von"})
# A label never ends on these: what they qualify follows ("soars more | than 10%", "unveils new | iPhone").
NO_END = _set(
    """more less most least nearly almost about some several many new latest first last other big major huge
    top key fresh further another early late consistent linked related due close ready set able likely
    dernier derniere nouveau nouvelle premier premiere neue neuer neues ultimo ultima nuevo nueva novo nova"""
)
# A label never starts with these: they qualify what comes before ("Minister among | dead in ...").
NO_START = _set("""dead killed injured wounded hurt missing""")
# After an event word these make it a warning of the event, not the event ("tsunami alert").
WARNINGS = frozenset({"warning", "warnings", "alert", "alerts", "watch", "threat", "fears", "risk"})
