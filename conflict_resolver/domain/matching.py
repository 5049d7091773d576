"""Customer-account matching: similarity and blocking over normalised customers.

Is this the same customer? ``CustomerProfile`` -> ``normalise_customer`` ->
``NormalisedCustomer``; ``score`` gives a ``MatchEvidence``; ``classify`` turns it into
"same" / "possible" / "different". Candidates are found through blocking keys
(``blocking_keys``, ``choose_probe_keys``, the in-memory ``CandidateIndex``), never by scanning
every claim. Domains, names and account keys come from ``schemas.accounts`` (they are part of
the event contract). Pure: no database, network, clock or randomness.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from schemas.accounts import (
    COUNTRY_WORDS,
    GENERIC_WORDS,
    STOP_WORDS,
    account_domain,
    account_key,
    is_free_email_domain,
    normalise_company_name,
    normalise_country,
    registrable_domain,
)

__all__ = [
    "CandidateIndex",
    "CustomerProfile",
    "MatchEvidence",
    "NormalisedCustomer",
    "account_domain",
    "account_key",
    "blocking_keys",
    "choose_probe_keys",
    "classify",
    "could_reach",
    "is_free_email_domain",
    "name_similarity",
    "normalise_company_name",
    "normalise_customer",
    "registrable_domain",
    "score",
]

# ---------------------------------------------------------------------------------------------
# Similarity
# ---------------------------------------------------------------------------------------------

_STOP_WEIGHT: Final = 0.1
_GENERIC_WEIGHT: Final = 0.35
_COUNTRY_TOKENS: Final = frozenset(word for phrase in COUNTRY_WORDS for word in phrase)

# Score given when names differ only by generic words ("Juniper" / "Juniper Networks") or one is
# the other's initials ("IBM" / "International Business Machines"): the review band, never more.
_SUBSET_SCORE: Final = 0.86
_ACRONYM_SCORE: Final = 0.84
# Score given when every distinctive word of one name is in the other, which adds distinctive
# words of its own ("Google" / "Google Jigsaw", "Apple" / "Apple Leisure Group"): a division, a
# department or another company of the same word; the bottom of the review band, never more.
_CONTAINED_SCORE: Final = 0.82
_SPACING_ONLY_SCORE: Final = 0.97
_COUNTRY_MISMATCH_FACTOR: Final = 0.88
_DOMAIN_MISMATCH_FACTOR: Final = 0.85
_NAME_AGREES_AT: Final = 0.80
_FUZZY_TOKEN_FLOOR: Final = 0.70  # token similarity below which a token earns no credit
_FUZZY_TOKEN_MIN_LENGTH: Final = 5
# A slip of the hand (one transposition, insertion or deletion) is only trusted in words at
# least this long: "Marvel" and "Marvell", "Norte" and "Nortel" are different companies.
_SLIP_MIN_LENGTH: Final = 7
# Long generic words, and spellings the name normaliser folds into one, whose slips are folded
# into them for comparison: "technolgies" is the generic "technology", not a distinctive word.
_GENERIC_SPELLINGS: Final[Mapping[str, str]] = {
    **{word: word for word in sorted(GENERIC_WORDS) if len(word) >= _SLIP_MIN_LENGTH},
    "technologies": "technology",
    "laboratory": "laboratories",
}
# Short forms the name normaliser keeps but that mean a generic word when comparing names.
_SHORT_GENERIC_FORMS: Final[Mapping[str, str]] = {"uni": "university"}


@dataclass(frozen=True)
class CustomerProfile:
    """A customer as a registration describes it: free text from a partner."""

    name: str
    domain: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class NormalisedCustomer:
    """A customer prepared for comparison; build it with `normalise_customer`.

    `domain` is the usable registrable domain (None for free mail); `country` is upper case;
    `compact_name` is the name without spaces; `acronym` its initials when it has some.
    """

    name: str
    tokens: tuple[str, ...]
    domain: str | None
    country: str | None
    compact_name: str
    acronym: str | None


@dataclass(frozen=True)
class MatchEvidence:
    """Why two customers are, or are not, the same account (shown to sales ops)."""

    similarity: float
    same_domain: bool
    name_score: float
    country_match: bool | None
    matched_fields: tuple[str, ...]


def _acronym(tokens: tuple[str, ...]) -> str | None:
    """Initials of a name of three or more significant words ("ibm"), or its one short token."""
    significant = [token for token in tokens if token not in STOP_WORDS]
    if len(significant) >= 3:
        return "".join(token[0] for token in significant)
    if len(tokens) == 1 and 3 <= len(tokens[0]) <= 5 and tokens[0].isalpha():
        return tokens[0]
    return None


def normalise_customer(profile: CustomerProfile) -> NormalisedCustomer:
    """Prepare a profile once, so that scoring it against many candidates stays cheap."""
    name = normalise_company_name(profile.name)
    tokens = tuple(name.split())
    return NormalisedCustomer(
        name=name,
        tokens=tokens,
        domain=account_domain(profile.domain),
        country=normalise_country(profile.country),
        compact_name=name.replace(" ", ""),
        acronym=_acronym(tokens),
    )


def _token_weight(token: str) -> float:
    """How much a shared token says: a rare word a lot, a generic word or a country little."""
    if token in STOP_WORDS:
        return _STOP_WEIGHT
    if token in GENERIC_WORDS or token in _COUNTRY_TOKENS:
        return _GENERIC_WEIGHT
    return 1.0


def is_slip(a: str, b: str) -> bool:
    """Whether two words differ by one slip of the hand: one transposition of neighbouring
    letters, one letter added or one dropped ("mircosoft", "micrsoft", "microssoft" against
    "microsoft"); both at least seven letters, all letters, with the same first letter.

    A substitution is not a slip ("rational" / "national", "vintela" / "viptela"): it is as
    often another word as a typo. The distance is rapidfuzz's optimal string alignment (a
    Damerau-Levenshtein distance where a transposition costs one edit).
    """
    if a == b or min(len(a), len(b)) < _SLIP_MIN_LENGTH or a[0] != b[0]:
        return False
    if not (a.isalpha() and b.isalpha()) or OSA.distance(a, b, score_cutoff=1) != 1:
        return False
    # One edit between words of equal length is a transposition only when the letters agree.
    return len(a) != len(b) or sorted(a) == sorted(b)


# The matching caches are bounded so that, full, they are a small, known share of the
# resolver's resident memory (issue 12, goal 5: under 200 MB a process). Measured with
# tracemalloc on the benchmarks' made-up companies, these two full take about 7 MB (a word's
# generic form, a name's folded words); ``protection.outcome``'s normalised customers about
# 10 MB more. They were 65,536 and 100,000 entries, about 80 MB full. A miss costs
# microseconds (the words are folded again), and the working set is the customers a
# registration is compared with, which recur: the hit rate is reported by the
# ``dealreg_matching_cache_*`` metrics (``tests.bench.bench_memory`` prints it).
GENERIC_FORM_CACHE_ENTRIES: Final = 16_384
FOLDED_CACHE_ENTRIES: Final = 16_384


@functools.lru_cache(maxsize=GENERIC_FORM_CACHE_ENTRIES)
def _generic_form(token: str) -> str:
    """The generic word a token misspells ("technolgies" -> "technology") or shortens ("uni"),
    else the token."""
    if token in _SHORT_GENERIC_FORMS:
        return _SHORT_GENERIC_FORMS[token]
    if len(token) < _SLIP_MIN_LENGTH or _token_weight(token) < 1.0:
        return token
    for spelling, generic in _GENERIC_SPELLINGS.items():
        near = spelling[0] == token[0] and abs(len(spelling) - len(token)) <= 1
        if near and is_slip(token, spelling):
            return generic
    return token


@functools.lru_cache(maxsize=FOLDED_CACHE_ENTRIES)
def _folded(tokens: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The tokens with misspelt generic words folded, and those of them that are distinctive."""
    folded = tuple(map(_generic_form, tokens))
    return folded, tuple(token for token in folded if _token_weight(token) == 1.0)


def cache_info() -> dict[str, functools._CacheInfo]:
    """Hits, misses and size of the matching caches, by name (for the resolver's metrics)."""
    return {"generic_form": _generic_form.cache_info(), "folded": _folded.cache_info()}


def _generic_spelling(customer: NormalisedCustomer) -> str:
    """The name without spaces, misspelt generic words spelt right ("acmetechnology")."""
    return "".join(_folded(customer.tokens)[0])


def _align(tokens: tuple[str, ...], others: tuple[str, ...]) -> tuple[str, ...]:
    """``tokens`` with misspelt generic words folded and each distinctive word that is a slip
    of one of ``others`` spelt as there, so that a slip counts as the same word."""
    folded, distinctive = _folded(tokens)
    distinctive_others = _folded(others)[1]
    if not distinctive_others or all(token in distinctive_others for token in distinctive):
        return folded
    long_others = [o for o in distinctive_others if len(o) >= _SLIP_MIN_LENGTH]
    aligned = []
    for token in folded:
        if len(token) >= _SLIP_MIN_LENGTH and token in distinctive:
            slips = (
                o
                for o in long_others
                if o[0] == token[0] and abs(len(o) - len(token)) <= 1 and is_slip(token, o)
            )
            token = next(slips, token)
        aligned.append(token)
    return tuple(aligned)


def _token_credit(token: str, others: frozenset[str]) -> float:
    """1 for a token the other name has; partial credit for a close misspelling of a long one."""
    if token in others:
        return 1.0
    if len(token) < _FUZZY_TOKEN_MIN_LENGTH:
        return 0.0
    best = max((fuzz.ratio(token, other) / 100 for other in others), default=0.0)
    return max(0.0, (best - _FUZZY_TOKEN_FLOOR) / (1 - _FUZZY_TOKEN_FLOOR))


def _weighted_token_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """Dice overlap of two token lists where each token counts by its weight."""
    a_set, b_set = frozenset(a), frozenset(b)
    total = sum(map(_token_weight, a)) + sum(map(_token_weight, b))
    if total == 0:
        return 0.0
    shared = sum(_token_weight(t) * _token_credit(t, b_set) for t in a)
    shared += sum(_token_weight(t) * _token_credit(t, a_set) for t in b)
    return shared / total


def _distinctive(tokens: tuple[str, ...]) -> frozenset[str]:
    return frozenset(token for token in tokens if _token_weight(token) == 1.0)


def _aligned_pair(
    a: NormalisedCustomer, b: NormalisedCustomer
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Both token lists with generic slips folded, and ``a``'s distinctive slips spelt as in
    ``b`` (one side only: aligning both would swap the spellings)."""
    return _align(a.tokens, b.tokens), _folded(b.tokens)[0]


def _differs_only_by_generic_words(tokens_a: tuple[str, ...], tokens_b: tuple[str, ...]) -> bool:
    """One name is the other plus generic words ("Juniper" / "Juniper Networks"): the same
    distinctive words, and the generic words of one among those of the other. Two names that
    share their distinctive words but each have a generic word the other lacks ("Summit
    Health" / "Summit Materials") are told apart by exactly those words, so they do not count.
    """
    distinctive_a = _distinctive(tokens_a)
    if not distinctive_a or distinctive_a != _distinctive(tokens_b):
        return False
    words_a, words_b = _significant(tokens_a), _significant(tokens_b)
    return words_a <= words_b or words_b <= words_a


def _significant(tokens: tuple[str, ...]) -> frozenset[str]:
    return frozenset(token for token in tokens if token not in STOP_WORDS)


def _is_contained_in(tokens_a: tuple[str, ...], tokens_b: tuple[str, ...]) -> bool:
    """One name begins with the whole of the other and goes on with distinctive words of its
    own ("Google" / "Google Jigsaw", "Airbus" / "Airbus Defence and Space"): most often a
    division of the same organisation, sometimes another company ("Apple" / "Apple Leisure
    Group"), so it is for review. The shorter needs a distinctive word of four letters or more:
    "AT" or "UK" at the head of a long name says nothing. Only the head counts: a shared word
    elsewhere ("Berlin" / "Technical University of Berlin") is as often a place or a partner."""
    words_a = [token for token in tokens_a if token not in STOP_WORDS]
    words_b = [token for token in tokens_b if token not in STOP_WORDS]
    short, long = (words_a, words_b) if len(words_a) <= len(words_b) else (words_b, words_a)
    return (
        0 < len(short) < len(long)
        and long[: len(short)] == short
        and any(_token_weight(word) == 1.0 and len(word) >= 4 for word in short)
        and _distinctive(tuple(short)) != _distinctive(tuple(long))
    )


def _is_acronym_of(a: NormalisedCustomer, b: NormalisedCustomer) -> bool:
    """One name is a single word made of the other's initials ("ibm" / "intl business machines")."""
    short, long = (a, b) if len(a.tokens) < len(b.tokens) else (b, a)
    return (
        len(short.tokens) == 1
        and len(long.tokens) >= 3
        and short.acronym is not None
        and short.acronym == long.acronym
    )


def name_similarity(a: NormalisedCustomer, b: NormalisedCustomer) -> float:
    """Similarity of two normalised names in [0, 1].

    The mean of a character-level score (edit similarity, spacing ignored; word order ignored)
    and a token overlap weighted by how telling each word is. Neither subset-friendly scorer
    (token_set_ratio, WRatio, partial_ratio) nor Jaro-Winkler is used: they rate "Apple" against
    "Apple Leisure Group", or "American Express" against "American Airlines", as near-perfect.
    """
    if not a.name or not b.name:
        return 0.0
    if a.name == b.name:
        return 1.0
    if a.compact_name == b.compact_name:
        return _SPACING_ONLY_SCORE
    tokens_a, tokens_b = _aligned_pair(a, b)
    characters = max(
        fuzz.ratio(_generic_spelling(a), _generic_spelling(b)),
        fuzz.token_sort_ratio(a.name, b.name),
    )
    blended = (characters / 100 + _weighted_token_overlap(tokens_a, tokens_b)) / 2
    if _is_contained_in(tokens_a, tokens_b):
        blended = max(blended, _CONTAINED_SCORE)
    if _differs_only_by_generic_words(tokens_a, tokens_b):
        blended = max(blended, _SUBSET_SCORE)
    if _is_acronym_of(a, b):
        blended = max(blended, _ACRONYM_SCORE)
    return blended


def _domain_labels_equal(a: NormalisedCustomer, b: NormalisedCustomer) -> bool:
    """acme.com and acme.de: the same name under another suffix, often the same company."""
    if a.domain is None or b.domain is None:
        return False
    return a.domain.split(".", 1)[0] == b.domain.split(".", 1)[0]


def _matched_fields(
    a: NormalisedCustomer, b: NormalisedCustomer, name_score: float, country_match: bool | None
) -> tuple[str, ...]:
    fields = {
        "domain": a.domain is not None and a.domain == b.domain,
        "domain_label": a.domain != b.domain and _domain_labels_equal(a, b),
        "name": name_score >= _NAME_AGREES_AT,
        "country": country_match is True,
    }
    return tuple(field for field, agrees in fields.items() if agrees)


def score(a: NormalisedCustomer, b: NormalisedCustomer) -> MatchEvidence:
    """How likely two customers are one account, with the evidence for it.

    The same registrable domain is the same account (similarity 1.0). Otherwise the name
    similarity, lowered when both countries are known and differ, and when both sides have
    unrelated domains (acme.com against acme.de is not lowered).
    """
    country_match = None if a.country is None or b.country is None else a.country == b.country
    name_score = name_similarity(a, b)
    same_domain = a.domain is not None and a.domain == b.domain
    similarity = 1.0 if same_domain else name_score
    if not same_domain and country_match is False:
        similarity *= _COUNTRY_MISMATCH_FACTOR
    if not same_domain and a.domain and b.domain and not _domain_labels_equal(a, b):
        similarity *= _DOMAIN_MISMATCH_FACTOR
    return MatchEvidence(
        similarity=round(similarity, 4),
        same_domain=same_domain,
        name_score=round(name_score, 4),
        country_match=country_match,
        matched_fields=_matched_fields(a, b, name_score, country_match),
    )


# Slack on the 0-100 character scale: rapidfuzz's batch scores are float32.
_BATCH_SCORE_SLACK: Final = 0.5


def could_reach(
    customer: NormalisedCustomer, candidates: Sequence[NormalisedCustomer], floor: float
) -> list[bool]:
    """For each candidate, whether ``score(customer, candidate).similarity`` may be ``floor`` or
    more (or the domains agree); False only when it provably cannot, so a caller may skip
    scoring those candidates one by one and lose nothing at or above ``floor``.

    The bound, from `score` and `name_similarity`: the same domain scores 1.0 (kept); the
    country and domain factors only lower a name's score; a name's score is 1.0 or 0.97 only
    when the compact names are equal (checked as it is there), the generic-word,
    contained-name and acronym overrides are checked as they are there, and otherwise it is the
    mean of a character score (on the names with misspelt generic words spelt right) and a
    token overlap of at most 1, hence at most ``(characters / 100 + 1) / 2``. The
    character scores of every candidate come from two batch calls (``rapidfuzz.process.cdist``)
    instead of one Python call each.
    """
    if not candidates:
        return []
    needed = (2 * floor - 1) * 100 - _BATCH_SCORE_SLACK
    if needed <= 0:
        return [True] * len(candidates)
    compact = process.cdist(
        [_generic_spelling(customer)], [_generic_spelling(c) for c in candidates], scorer=fuzz.ratio
    )[0].tolist()
    sorted_tokens = process.cdist(
        [customer.name], [c.name for c in candidates], scorer=fuzz.token_sort_ratio
    )[0].tolist()
    reach = []
    for candidate, by_characters, by_tokens in zip(candidates, compact, sorted_tokens, strict=True):
        reach.append(
            (customer.domain is not None and customer.domain == candidate.domain)
            or max(by_characters, by_tokens) >= needed
            or customer.compact_name == candidate.compact_name
            or (floor <= _SUBSET_SCORE and _may_be_raised(customer, candidate, floor))
            or (floor <= _ACRONYM_SCORE and _is_acronym_of(customer, candidate))
        )
    return reach


def _may_be_raised(a: NormalisedCustomer, b: NormalisedCustomer, floor: float) -> bool:
    """Whether the generic-word or contained-name override lifts a pair to ``floor``."""
    tokens_a, tokens_b = _aligned_pair(a, b)
    return (floor <= _SUBSET_SCORE and _differs_only_by_generic_words(tokens_a, tokens_b)) or (
        floor <= _CONTAINED_SCORE and _is_contained_in(tokens_a, tokens_b)
    )


MatchClass = Literal["same", "possible", "different"]


def classify(
    evidence: MatchEvidence,
    *,
    same_account_threshold: float = 0.92,
    review_threshold: float = 0.80,
) -> MatchClass:
    """Rule 7 of engagement: at or above 0.92, or the same registrable domain, it is the same
    account; in the review band (0.80 to 0.92) it is a possible duplicate; below, different."""
    if evidence.same_domain or evidence.similarity >= same_account_threshold:
        return "same"
    if evidence.similarity >= review_threshold:
        return "possible"
    return "different"


# ---------------------------------------------------------------------------------------------
# Blocking
# ---------------------------------------------------------------------------------------------

_ALWAYS_PROBED_PREFIXES: Final = ("d:", "n:")
# How many keys of each rarity-ranked kind a query probes, rarest first.
_RANKED_KEY_QUOTAS: Final[Mapping[str, int]] = {"t:": 2, "k:": 1, "l:": 1}
_SKELETON_MIN_LENGTH: Final = 5
_VOWELS: Final = re.compile("[aeiouy]")
_REPEATS: Final = re.compile(r"(.)\1+")
_MAX_POSTINGS_PER_KEY: Final = 1_000


def _consonant_skeleton(token: str) -> str:
    """A token without inner vowels or doubled letters: "verisign" and "verisgn" both give
    "vrsgn", "tuebingen" and "tubingen" both "tbngn"."""
    return _REPEATS.sub(r"\1", token[0] + _VOWELS.sub("", token[1:]))


def _consonant_set(token: str) -> str:
    """A token's first letter and the set of its other consonants, in order: "microsoft" and
    "mircosoft" both give "mcfrst", so a transposition still meets the right spelling."""
    return token[0] + "".join(sorted(set(_VOWELS.sub("", token[1:]))))


def blocking_keys(customer: NormalisedCustomer) -> list[str]:
    """The keys under which a customer is filed, so that likely matches share at least one.

    - `d:<domain>`: the usable registrable domain;
    - `n:<name without spaces>`: the whole normalised name ("acme packet" = "acmepacket");
    - `t:<token>`: each distinctive token (not a stop word, generic word or country); a name
      with none ("General Electric") files each of its non-stop-word tokens instead;
    - `k:<skeleton>`: each distinctive token of five letters or more without its inner vowels
      and doubled letters, so that a typo ("Verisgn") or a transliteration ("Tuebingen" /
      "Tübingen") still meets the right spelling;
    - `l:<first letter + sorted consonants>`: each distinctive token of seven letters or more,
      first letter kept and the other consonants as a set, so that a transposition
      ("Mircosoft") meets the right spelling (added in issue 17: claims filed before it lack
      these keys, which only costs their typo'd look-alikes);
    - `a:<initials>`: the initials of a long name, or a short one-word name, so that "IBM"
      meets "International Business Machines".

    Keys depend on the customer alone, never on how common a token is across claims (the
    generic words are a fixed list), so a database can store them once in an indexed
    (key, claim_id) table. Rarity comes in when querying: see `choose_probe_keys`. Character
    n-gram keys were left out: they file a claim under dozens of keys where the skeleton key
    files it under one per word, and they match unrelated names that share common fragments.
    """
    keys: list[str] = []
    if customer.domain:
        keys.append(f"d:{customer.domain}")
    if customer.compact_name:
        keys.append(f"n:{customer.compact_name}")
    distinctive = [t for t in customer.tokens if _token_weight(t) == 1.0 and len(t) > 1]
    fallback = [t for t in customer.tokens if t not in STOP_WORDS]
    keys.extend(f"t:{token}" for token in dict.fromkeys(distinctive or fallback))
    long_tokens = (token for token in distinctive if len(token) >= _SKELETON_MIN_LENGTH)
    keys.extend(f"k:{_consonant_skeleton(token)}" for token in long_tokens)
    slip_tokens = (token for token in distinctive if len(token) >= _SLIP_MIN_LENGTH)
    keys.extend(f"l:{_consonant_set(token)}" for token in slip_tokens if token.isalpha())
    if customer.acronym:
        keys.append(f"a:{customer.acronym}")
    return list(dict.fromkeys(keys))


def choose_probe_keys(
    keys: Iterable[str],
    posting_size: Callable[[str], int],
    *,
    max_postings: int = _MAX_POSTINGS_PER_KEY,
) -> list[str]:
    """The keys worth looking up: every domain and name key, the initials key, the two rarest
    token keys, the rarest skeleton key and the rarest consonant-set key.

    Two names of one company share their rarest words, so probing the rarest keys finds most
    aliases with few candidates. A token, skeleton or initials key filed by more than
    `max_postings` claims is as good as a stop word and skipped, which bounds the candidates
    per query (to about 5 x `max_postings` plus the claims on the same domain or name) however
    large the index grows. `posting_size` says how many claims a key has (0 for none); a
    database adapter answers it from its key table, in one grouped count.
    """
    probed: list[str] = []
    ranked: dict[str, list[tuple[int, str]]] = {prefix: [] for prefix in _RANKED_KEY_QUOTAS}
    for key in keys:
        size = posting_size(key)
        if size == 0 or (size > max_postings and not key.startswith(_ALWAYS_PROBED_PREFIXES)):
            continue
        if key[:2] in ranked:
            ranked[key[:2]].append((size, key))
        else:
            probed.append(key)
    for prefix, sized_keys in ranked.items():
        probed.extend(key for _, key in sorted(sized_keys)[: _RANKED_KEY_QUOTAS[prefix]])
    return probed


class CandidateIndex:
    """An in-memory blocking index: claim ids filed under their customers' blocking keys.

    The same structure as the database table of (blocking_key, claim_id) the resolver keeps; this
    one serves tests, replays and the policy what-if.
    """

    def __init__(self, *, max_postings: int = _MAX_POSTINGS_PER_KEY) -> None:
        self._max_postings = max_postings
        self._claims_by_key: dict[str, set[str]] = {}
        self._keys_by_claim: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self._keys_by_claim)

    def add(self, claim_id: str, customer: NormalisedCustomer) -> None:
        """File a claim; filing it again replaces its previous keys."""
        self.remove(claim_id)
        keys = blocking_keys(customer)
        self._keys_by_claim[claim_id] = keys
        for key in keys:
            self._claims_by_key.setdefault(key, set()).add(claim_id)

    def remove(self, claim_id: str) -> None:
        """Forget a claim; unknown ids are ignored."""
        for key in self._keys_by_claim.pop(claim_id, []):
            claims = self._claims_by_key[key]
            claims.discard(claim_id)
            if not claims:
                del self._claims_by_key[key]

    def _posting_size(self, key: str) -> int:
        return len(self._claims_by_key.get(key, ()))

    def candidates(self, customer: NormalisedCustomer) -> set[str]:
        """Claim ids that may be the same account as `customer`, to be scored one by one."""
        probe_keys = choose_probe_keys(
            blocking_keys(customer), self._posting_size, max_postings=self._max_postings
        )
        found: set[str] = set()
        for key in probe_keys:
            found |= self._claims_by_key[key]
        return found
