"""Customer accounts by name: company names reduced to the words that tell companies apart.

Part of the account key (``schemas.accounts``); the word lists are also the matcher's
(``conflict_resolver.domain.matching``). Pure: no data but the lists below.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Final


def _words(text: str) -> frozenset[str]:
    """A word list written as running text, which reads better than a column of quotes."""
    return frozenset(text.split())


# Legal forms, already in normalised spelling (dots removed, single letters joined:
# "S.p.A." -> "spa", "A/S" -> "as", "Sp. z o.o." -> "sp zoo"). Stripped from the end, repeatedly.
# We keep our own frozen list rather than cleanco's (which strips one form per call, keeps
# "(US)" tags, and counts "uk", "eu", "at", "private" as legal forms) so account keys do not
# move when a library is upgraded.
_LEGAL_FORMS: Final = frozenset(
    tuple(form.split())
    for form in (
        # English-speaking countries, India, Singapore, Malaysia, Australia, South Africa
        "inc", "incorporated", "corporation", "company", "and company", "llc", "llp", "lllp",
        "lp", "and co", "ltd", "limited", "plc", "pllc", "pc", "pty", "pvt", "pte",
        "private limited", "unlimited", "ultd", "sdn bhd", "bhd", "berhad", "tbk", "companies",
        # "Group" and "Holdings" in several languages: "Sony Group" is Sony
        "holding", "holdings", "group", "groep", "gruppe", "groupe", "grupo", "gruppo",
        # German-speaking countries
        "gmbh", "mbh", "ag", "kg", "kgaa", "ohg", "gbr", "ev", "eg", "ug", "se",
        "aktiengesellschaft", "gesmbh",
        # French, Belgian, Swiss, Luxembourg
        "sa", "sas", "sasu", "sarl", "eurl", "sca", "snc", "sci", "scop", "cie", "and cie",
        "sprl", "srl", "bvba", "cvba", "vzw", "asbl", "sicav",
        # Italian, Spanish, Portuguese, Latin America
        "spa", "srls", "sapa", "scarl", "scrl", "sl", "slu", "sau", "sa de cv", "de cv", "cv",
        "s de rl", "ltda", "lda", "sac", "saa", "sab", "eireli", "me",
        # Dutch, Nordic, Baltic
        "bv", "nv", "vof", "ab", "abp", "publ", "as", "asa", "aps", "oy", "oyj", "hf", "ehf",
        "uab", "sia", "ou",
        # Central and Eastern Europe, Russia, Turkey, Greece
        "sp zoo", "sp z oo", "spzoo", "spj", "spk", "sro", "spol sro", "kft", "zrt", "nyrt",
        "bt", "rt", "doo", "dd", "ad", "ead", "ooo", "oao", "zao", "pao", "ao", "jsc", "pjsc",
        "ojsc", "cjsc", "sti", "ltd sti", "ae", "epe",
        # East Asia
        "kk", "gk", "yk", "kabushiki kaisha", "godo kaisha", "yugen kaisha", "co",
    )
)  # fmt: skip

# Legal forms written before the name: "PT Telkom", "OOO Yandex", "AB Volvo".
_LEADING_LEGAL_FORMS: Final = frozenset(
    tuple(form.split())
    for form in ("pt", "ooo", "oao", "zao", "pao", "pjsc", "ab", "kabushiki kaisha", "kk")
)

# Chinese and Japanese legal forms, written without spaces around them: 株式会社トヨタ.
_CJK_LEGAL_FORMS: Final = re.compile(
    "^(?:株式会社|有限会社|合同会社)|(?:股份有限公司|有限责任公司|有限公司|株式会社)$"
)

# Country names and codes seen as tags on company names, in normalised spelling.
COUNTRY_WORDS: Final = frozenset(
    tuple(name.split())
    for name in (
        "us", "usa", "united states", "united states of america", "america", "uk", "gb",
        "united kingdom", "great britain", "england", "scotland", "wales", "ireland", "canada",
        "mexico", "brazil", "brasil", "argentina", "chile", "colombia", "peru", "germany",
        "deutschland", "france", "italy", "italia", "spain", "espana", "portugal",
        "netherlands", "nederland", "holland", "belgium", "belgique", "belgie", "luxembourg",
        "switzerland", "schweiz", "suisse", "svizzera", "austria", "osterreich", "sweden",
        "sverige", "norway", "norge", "denmark", "danmark", "finland", "suomi", "iceland",
        "poland", "polska", "czech republic", "czechia", "slovakia", "hungary", "romania",
        "bulgaria", "greece", "turkey", "turkiye", "russia", "ukraine", "israel", "uae",
        "saudi arabia", "egypt", "south africa", "nigeria", "kenya", "india", "china", "prc",
        "hong kong", "taiwan", "japan", "nippon", "korea", "south korea", "singapore",
        "malaysia", "indonesia", "thailand", "vietnam", "philippines", "australia",
        "new zealand", "emea", "apac", "latam", "europe", "asia", "asia pacific", "americas",
        "north america", "nordics", "benelux", "dach",
    )
)  # fmt: skip

# Words so common in company names that sharing one says little. A fixed list rather than
# frequencies counted over our own claims: the weights, and the blocking keys built from them,
# must not drift as claims come and go.
GENERIC_WORDS: Final = _words(
    """
    international global worldwide world group holdings holding company corporation systems
    system technology services service solutions solution software networks network
    communications telecommunications telecom telekom data digital consulting consultants
    partners associates industries industrial enterprises enterprise management capital
    financial finance bank banking insurance investment investments trust health healthcare
    medical pharma pharmaceuticals energy power electric electrical electronics engineering
    manufacturing media entertainment products laboratories research development institute
    university college school foundation association society council national american
    european british french german deutsche swiss japanese chinese indian canadian australian
    general first united royal central new north south east west pacific atlantic air airlines
    airways motor motors auto automotive retail stores foods food trading logistics transport
    security cloud computer computers computing innovations innovation ventures center
    department division city state county government ministry agency office information info
    it ai web net online mobile wireless cable broadband infrastructure resources materials
    chemicals construction properties real estate realty hotels resorts travel
    societe compagnie sociedad societa gesellschaft companhia banco banca banque koninklijke
    universidad universidade universite universitat universita universiteit universitaet
    hochschule institut instituto istituto
    """
)
STOP_WORDS: Final = _words(
    "and of for de du des la le les el los las der die das den von van di del della da do dos "
    "y e en a an to at on in"
)
# Words after which a country belongs to the name: "Bank of China", "Banco do Brasil".
_CONNECTORS: Final = _words("of and de du des do da dos das di del della von van fur for")

# Short forms that mean the same word; both sides are rewritten to the long form.
_ABBREVIATIONS: Final[Mapping[str, str]] = {
    "corp": "corporation", "cos": "company", "intl": "international",
    "internat": "international", "mfg": "manufacturing", "mfrs": "manufacturers",
    "natl": "national", "tech": "technology", "techs": "technology",
    "technologies": "technology", "svc": "services", "svcs": "services", "sys": "systems",
    "univ": "university", "inst": "institute", "lab": "laboratories", "labs": "laboratories",
    "laboratory": "laboratories", "ctr": "center", "cntr": "center", "centre": "center",
    "dept": "department", "mgmt": "management", "bros": "brothers", "grp": "group",
    "hldgs": "holdings", "hldg": "holding", "assn": "association", "comms": "communications",
    "und": "and", "et": "and", "the": "",
}  # fmt: skip

# Letters that Unicode decomposition does not reduce to ASCII, and marks that it would turn
# into letters ("Wire™" must not become "wiretm").
_LETTER_FOLDS: Final = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
)
_TRADEMARKS: Final = str.maketrans({"\u2122": " ", "\u2120": " ", "\u00ae": " ", "\u00a9": " "})
_PARENTHESISED: Final = re.compile(r"[(\[][^)\]]*(?:[)\]]|$)")
_APOSTROPHES: Final = re.compile("['`\u00b4\u2019]")
_SHORT_AMPERSAND: Final = re.compile(r"\b(\w{1,3})\.?[&+](\w{1,3})\b|\b(\w{1,2}) [&+] (\w{1,2})\b")
_WEB_SUFFIX: Final = re.compile(r"(?<=\w)\.(?:com|net|org|io|ai)\b")
_DOTTED_INITIALS: Final = re.compile(r"\b\w(?:\.\w)+\b\.?")
_NON_WORD: Final = re.compile(r"[\W_]+")
_SEPARATED_TAIL: Final = re.compile("(?:,|\\s[-|\u2013\u2014]\\s|/)\\s*([^,/|]*)$")


def _fold_letters(raw: str) -> str:
    """Case-fold and drop accents from Latin letters, leaving other scripts alone."""
    decomposed = unicodedata.normalize("NFKD", raw.translate(_TRADEMARKS))
    decomposed = decomposed.casefold().translate(_LETTER_FOLDS)
    kept: list[str] = []
    for char in decomposed:
        is_latin_accent = unicodedata.combining(char) and kept and kept[-1] < "\u0250"
        if not is_latin_accent:
            kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def _drop_separated_country(text: str) -> str:
    """Drop a country written after a comma, slash or dash: "Acme, UK", "Acme - Deutschland"."""
    match = _SEPARATED_TAIL.search(text)
    tail = _join_single_letters(_NON_WORD.sub(" ", match.group(1)).split()) if match else []
    if match and tuple(tail) in COUNTRY_WORDS:
        return text[: match.start()]
    return text


def _join_ampersand(match: re.Match[str]) -> str:
    """Join initials around an ampersand ("AT&T", "H & M"), but not legal forms ("SE & Co")."""
    parts = [part for part in match.groups() if part]
    if any((part,) in _LEGAL_FORMS for part in parts):
        return match.group(0)
    return "".join(parts)


def _join_single_letters(tokens: list[str]) -> list[str]:
    """Join runs of single letters: "a t t" -> "att", "s a" -> "sa", "j p morgan" -> "jp morgan"."""
    joined: list[str] = []
    run = ""
    for token in [*tokens, ""]:
        if len(token) == 1:
            run += token
            continue
        if run:
            joined.append(run)
            run = ""
        if token:
            joined.append(token)
    return joined


def _name_tokens(raw: str) -> list[str]:
    """Tokens of a name before legal forms and country tags are stripped."""
    folded = _fold_letters(raw)
    text = _PARENTHESISED.sub(" ", folded)
    if not _NON_WORD.sub("", text):
        text = folded  # "(Acme)": the brackets hold the whole name
    text = _drop_separated_country(text).strip()
    text = _CJK_LEGAL_FORMS.sub("", text) or text
    text = _WEB_SUFFIX.sub("", _APOSTROPHES.sub("", text))  # "Amazon.com, Inc." is Amazon
    text = _DOTTED_INITIALS.sub(lambda match: match.group(0).replace(".", ""), text)
    text = _SHORT_AMPERSAND.sub(_join_ampersand, text)  # "AT&T", "H & M"
    text = text.replace("&", " and ").replace("+", " and ")
    tokens = _join_single_letters(_NON_WORD.sub(" ", text).split())
    expanded = (_ABBREVIATIONS.get(token, token) for token in tokens)
    return [token for token in expanded if token]


def _ends_with(tokens: list[str], phrases: frozenset[tuple[str, ...]]) -> int:
    """Length of the longest phrase that ends `tokens` and leaves something before it."""
    for length in (4, 3, 2, 1):
        if len(tokens) > length and tuple(tokens[-length:]) in phrases:
            return length
    return 0


def _starts_with(tokens: list[str], phrases: frozenset[tuple[str, ...]]) -> int:
    for length in (2, 1):
        if len(tokens) > length and tuple(tokens[:length]) in phrases:
            return length
    return 0


def _is_country_tag(tokens: list[str], length: int) -> bool:
    """A trailing country is a tag unless it completes the name ("Bank of China", "Air France")."""
    rest = tokens[:-length]
    return rest[-1] not in _CONNECTORS and any(token not in GENERIC_WORDS for token in rest)


def _strip_once(tokens: list[str]) -> list[str]:
    """Remove one legal form or country tag from either end, or return the tokens unchanged."""
    form_length = _ends_with(tokens, _LEGAL_FORMS)
    if form_length:
        rest = tokens[:-form_length]
        country_length = _ends_with(rest, COUNTRY_WORDS)
        if country_length and _is_country_tag(rest, country_length):
            return rest[:-country_length]  # "Acme UK Ltd", "IBM Deutschland GmbH"
        return rest
    country_length = _ends_with(tokens, COUNTRY_WORDS)
    if country_length and tuple(tokens[-country_length - 1 :][:1]) in _LEGAL_FORMS:
        return tokens[:-country_length]  # "Acme GmbH Germany", "Acme Inc USA"
    leading_length = _starts_with(tokens, _LEADING_LEGAL_FORMS)
    return tokens[leading_length:]


def normalise_company_name(raw: str) -> str:
    """A company name reduced to the words that tell companies apart, space-separated.

    Case, accents, punctuation, "The", parenthesised tags, "&" and common abbreviations are
    evened out, then legal forms and country tags are stripped from the ends until none is left:
    "The ACME Corporation Inc. (US)" and "Acme Corp" both give "acme". A name made only of a
    legal form keeps it ("Company" stays "company").
    """
    tokens = _name_tokens(raw)
    while (stripped := _strip_once(tokens)) != tokens:
        tokens = stripped
    return " ".join(tokens)
