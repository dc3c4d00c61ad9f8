"""Duplicate-contact detection: exact identity keys, then fuzzy name/company matching inside blocks.

The algorithm (pure, no I/O), for ``n`` leads of one tenant:

1. **Exact identity keys.** Two leads sharing a normalised email, an E.164 phone or an Instagram-scoped id
   are the same contact (possible after imports with strategy "create" or capture races): score 100.
2. **Blocking** (Christen, *Data Matching*, Springer 2012, ch. 4 "Indexing", multi-pass standard blocking
   and the sorted-neighbourhood method). Each lead gets a few blocking keys and is only compared with the
   leads that share one of them:

   - ``n:`` the sorted pair of the Soundex codes of the first and last name tokens (catches swapped name
     order and phonetically equal typos: "Jon Smyth" / "Smith John");
   - ``l:`` the full folded last-name token (typos in the first name);
   - ``f:`` the full folded first-name token plus the Soundex of the last name (typos in the last name);
   - ``p:``/``s:`` the first-name token plus the first / last three letters of the last name (typos that
     change the Soundex code: "Dormiard" / "Dorminard");
   - ``d:`` a company email domain (free-mail domains excluded) plus the name's initials;
   - ``c:`` the company's most distinctive (longest) token plus the name's initials;
   - ``e:`` the email local part without digits and separators (``j.smith77`` -> ``jsmith``).

   A block larger than :data:`MAX_BLOCK` is not compared all-against-all: its members are sorted by their
   folded full name and each is compared with the next :data:`WINDOW` (the sorted-neighbourhood method),
   so the work is O(n * (MAX_BLOCK + WINDOW)) whatever the data, and memory O(n) (only pairs above the
   cut-off are kept).
3. **Comparison** inside a block with ``rapidfuzz.process.cdist`` (one C++ call per block, see
   https://rapidfuzz.github.io/RapidFuzz/Usage/process.html#cdist) and ``fuzz.token_sort_ratio`` on the
   folded full names (word order does not matter: https://rapidfuzz.github.io/RapidFuzz/Usage/fuzz.html).
   The name similarity is the better of ``fuzz.ratio`` (same order) and ``token_sort_ratio`` (swapped
   order; sorting alone misplaces a token whose first letter has a typo). Pairs under
   :data:`NAME_CUTOFF` are dropped by ``score_cutoff`` inside rapidfuzz.
4. **Scoring** of the surviving pairs (0-99; 100 is reserved for exact identity keys): 0.9 x the name
   similarity, then +8 when the companies agree (``token_set_ratio`` >= 90), -15 when both are given and
   disagree (< 60), +5 for the same company email domain, -8 for two different email addresses at
   different domains whose local parts are not near-equal (ratio < 90), -6 for two different phones.
   Without an agreeing signal (company, company domain) a pair is capped at 85 (namesakes exist), and at
   70 when either name is a single token ("Maria" and "Maria" alone never make a strong pair). A lead
   without a name gets one read from its email address ("ana.silva77@..." -> "ana silva"), flagged in the
   reasons. Pairs scoring under :data:`MIN_SCORE` are dropped. Each pair carries human-readable reasons
   ("name 94% similar", "same company").
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from leadtide.duplicates.ports import CandidatePair, MatchRecord

NAME_CUTOFF = 80  # token_sort_ratio under which a name pair is not a candidate
MIN_SCORE = 80  # final score under which a fuzzy pair is not reported (nor stored)
MAX_BLOCK = 150  # blocks above this size are compared by sorted neighbourhood
WINDOW = 12  # sorted-neighbourhood window inside an oversized block
MAX_EXACT_GROUP = 50  # leads sharing one identity key: beyond this, each is paired with the first only

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.es",
        "yahoo.com.br",
        "yahoo.fr",
        "ymail.com",
        "hotmail.com",
        "hotmail.es",
        "hotmail.fr",
        "outlook.com",
        "outlook.es",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "web.de",
        "mail.com",
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
    }
)
_COMPANY_NOISE = frozenset(
    {
        "inc",
        "llc",
        "ltd",
        "limited",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "srl",
        "sl",
        "ltda",
        "me",
        "eireli",
        "bv",
        "nv",
        "plc",
        "co",
        "corp",
        "corporation",
        "company",
        "the",
        "and",
        "de",
        "group",
        "grupo",
    }
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_DIGITS_SEPARATORS = re.compile(r"[^a-z]+")
_LOCAL_SPLIT = re.compile(r"[._\-+]+|\d+")


@dataclass(slots=True)
class MatchStats:
    """What one detection run did: leads read, blocks formed, pairs compared (vs n*(n-1)/2), pairs kept."""

    leads: int = 0
    blocks: int = 0
    oversized_blocks: int = 0
    pairs_compared: int = 0
    exact_pairs: int = 0
    fuzzy_pairs: int = 0


def fold(text: str | None) -> str:
    """Lower-case, strip accents (NFKD, combining marks removed) and turn punctuation into single spaces."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return _NON_ALNUM.sub(" ", stripped).strip()


_SOUNDEX = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}


def soundex(token: str) -> str:
    """American Soundex of a folded token (Knuth, *TAOCP* vol. 3, 6.0; US National Archives' rules):
    first letter + three digits, ``h``/``w`` do not separate equal codes. Empty for an empty token."""
    letters = [c for c in token if "a" <= c <= "z"]
    if not letters:
        return ""
    first = letters[0]
    out = [first.upper()]
    last = _SOUNDEX.get(first, "")
    for ch in letters[1:]:
        code = _SOUNDEX.get(ch, "")
        if code and code != last:
            out.append(code)
            if len(out) == 4:
                break
        if ch not in "hw":
            last = code
    return "".join(out).ljust(4, "0")


@dataclass(slots=True)
class _Prepared:
    index: int
    full: str  # folded "first last"
    tokens: tuple[str, ...]
    first: str
    last: str
    company: str  # folded, legal-form words removed
    email: str
    domain: str  # company email domain ("" for free mail or none)
    local: str  # email local part, letters only
    phone: str
    derived: bool  # the name was read from the email address


def _prepare(index: int, r: MatchRecord) -> _Prepared:
    first, last = fold(r.first_name), fold(r.last_name)
    full = " ".join(p for p in (first, last) if p) or fold(r.name)
    derived = False
    if not full and r.email and "@" in r.email:
        # "ana.silva77@x.com" -> "ana silva": a name read from the address (weaker evidence).
        parts = [t for t in _LOCAL_SPLIT.split(r.email.split("@", 1)[0].lower()) if t.isalpha()]
        if len(parts) >= 2:
            full, derived = " ".join(parts), True
    tokens = tuple(full.split())
    if not first and tokens:
        first, last = tokens[0], (tokens[-1] if len(tokens) > 1 else "")
    first_tok = first.split()[0] if first else ""
    last_tok = last.split()[-1] if last else ""
    company = " ".join(t for t in fold(r.company).split() if t not in _COMPANY_NOISE)
    local, domain = "", ""
    if r.email and "@" in r.email:
        raw_local, raw_domain = r.email.lower().rsplit("@", 1)
        local = _DIGITS_SEPARATORS.sub("", raw_local.split("+", 1)[0])
        domain = "" if raw_domain in FREE_MAIL_DOMAINS else raw_domain
    return _Prepared(
        index,
        full,
        tokens,
        first_tok,
        last_tok,
        company,
        (r.email or "").lower(),
        domain,
        local,
        r.phone or "",
        derived,
    )


def _blocking_keys(p: _Prepared) -> Iterator[str]:
    if p.first and p.last:
        a, b = sorted((soundex(p.first), soundex(p.last)))
        yield f"n:{a}{b}"
        yield f"l:{p.last}"
        yield f"f:{p.first}:{soundex(p.last)}"
        if len(p.last) >= 5:  # typos that change the Soundex code: same first name, same start or end
            yield f"p:{p.first}:{p.last[:3]}"
            yield f"s:{p.first}:{p.last[-3:]}"
    elif p.first:
        yield f"n:{soundex(p.first)}"
    initial = "".join(sorted({(p.last or "?")[0], (p.first or "?")[0]}))  # same for swapped names
    if p.domain:
        yield f"d:{p.domain}:{initial}"
    if p.company:
        distinctive = max(p.company.split(), key=len)
        if len(distinctive) >= 3:
            yield f"c:{distinctive}:{initial}"
    if len(p.local) >= 4:
        yield f"e:{p.local}"


class DuplicateFinder:
    """Finds candidate duplicate pairs among one tenant's leads (see the module docstring for the method).

    Usage: ``pairs = DuplicateFinder().find(records)``; ``finder.stats`` then tells what was compared.
    """

    def __init__(
        self,
        *,
        min_score: int = MIN_SCORE,
        max_block: int = MAX_BLOCK,
        window: int = WINDOW,
        workers: int = 1,
    ):
        self.min_score = min_score
        self.max_block = max_block
        self.window = window
        self.workers = workers
        self.stats = MatchStats()

    def find(self, records: Sequence[MatchRecord]) -> list[CandidatePair]:
        """All candidate pairs (exact identity pairs first, then fuzzy ones), each pair once, best reasons.

        Args:
            records: the tenant's leads; ``lead_id`` must be unique.
        Returns:
            pairs with ``lead_a < lead_b``, sorted by score descending then ids.
        """
        self.stats = MatchStats(leads=len(records))
        found: dict[tuple[int, int], CandidatePair] = {}
        self._exact(records, found)
        prepared = [_prepare(i, r) for i, r in enumerate(records)]
        blocks: dict[str, list[int]] = defaultdict(list)
        for p in prepared:
            for key in _blocking_keys(p):
                blocks[key].append(p.index)
        seen: set[tuple[int, int]] = set(found)
        for members in blocks.values():
            if len(members) < 2:
                continue
            self.stats.blocks += 1
            if len(members) <= self.max_block:
                self._compare_block(members, prepared, records, found, seen)
            else:
                self.stats.oversized_blocks += 1
                ordered = sorted(members, key=lambda i: prepared[i].full)
                for start in range(0, len(ordered), self.window):
                    # Overlapping windows: each member meets the WINDOW members after it.
                    self._compare_block(
                        ordered[start : start + 2 * self.window], prepared, records, found, seen
                    )
        pairs = list(found.values())
        pairs.sort(key=lambda p: (-p.score, p.lead_a, p.lead_b))
        self.stats.fuzzy_pairs = len(pairs) - self.stats.exact_pairs
        return pairs

    # ------------------------------------------------------------------ exact keys
    def _exact(self, records: Sequence[MatchRecord], found: dict[tuple[int, int], CandidatePair]) -> None:
        for attr, reason in (
            ("email", "same email"),
            ("phone", "same phone"),
            ("instagram_id", "same Instagram account"),
        ):
            groups: dict[str, list[int]] = defaultdict(list)
            for i, r in enumerate(records):
                value = getattr(r, attr)
                if value:
                    groups[value.lower() if attr == "email" else value].append(i)
            for members in groups.values():
                for x, i in enumerate(members):
                    partners = members[:x] if x < MAX_EXACT_GROUP else members[:1]
                    for j in partners:
                        key = (min(i, j), max(i, j))
                        pair = found.get(key)
                        if pair is None:
                            a, b = sorted((records[i].lead_id, records[j].lead_id))
                            found[key] = CandidatePair(a, b, 100, [reason])
                            self.stats.exact_pairs += 1
                        elif reason not in pair.reasons:
                            pair.reasons.append(reason)

    # ------------------------------------------------------------------ fuzzy
    def _compare_block(
        self,
        members: list[int],
        prepared: list[_Prepared],
        records: Sequence[MatchRecord],
        found: dict[tuple[int, int], CandidatePair],
        seen: set[tuple[int, int]],
    ) -> None:
        import numpy as np
        from rapidfuzz import fuzz, process

        named = [i for i in members if prepared[i].full]
        if len(named) < 2:
            return
        names = [prepared[i].full for i in named]
        self.stats.pairs_compared += len(named) * (len(named) - 1) // 2
        # Plain ratio for names in the same order, token_sort_ratio for swapped ones ("Smith John"); sorting
        # alone would misplace a token whose first letter has a typo ("Dnaiela"), so take the better.
        matrix = process.cdist(
            names, names, scorer=fuzz.ratio, score_cutoff=NAME_CUTOFF, dtype="uint8", workers=self.workers
        )
        swapped = process.cdist(
            names,
            names,
            scorer=fuzz.token_sort_ratio,
            score_cutoff=NAME_CUTOFF,
            dtype="uint8",
            workers=self.workers,
        )
        np.maximum(matrix, swapped, out=matrix)
        rows, cols = matrix.nonzero()
        for x, y in zip(rows.tolist(), cols.tolist(), strict=True):
            if y <= x:
                continue
            i, j = named[x], named[y]
            key = (min(i, j), max(i, j))
            if key in seen:
                continue
            seen.add(key)
            score, reasons = score_pair(prepared[i], prepared[j], int(matrix[x, y]))
            if score >= self.min_score:
                a, b = sorted((records[i].lead_id, records[j].lead_id))
                found[key] = CandidatePair(a, b, score, reasons)


def score_pair(a: _Prepared, b: _Prepared, name_similarity: int) -> tuple[int, list[str]]:
    """Score a name-matched pair 0-99 from the agreeing and disagreeing signals (module docstring, step 4)."""
    from rapidfuzz import fuzz

    score = 0.9 * name_similarity
    derived = a.derived or b.derived
    reasons = [f"name {name_similarity}% similar" + (" (read from the email address)" if derived else "")]
    agreeing = False
    if a.company and b.company:
        company_similarity = fuzz.token_set_ratio(a.company, b.company)
        if company_similarity >= 90:
            score += 8
            reasons.append("same company")
            agreeing = True
        elif company_similarity < 60:
            score -= 15
            reasons.append("different company")
    if a.domain and a.domain == b.domain:
        score += 5
        reasons.append(f"same email domain ({a.domain})")
        agreeing = True
    if a.email != b.email and a.local and b.local and not (a.domain and a.domain == b.domain):
        # Two different addresses: mild evidence of two people unless the local parts nearly agree.
        if fuzz.ratio(a.local, b.local) >= 90:
            reasons.append("similar email address")
        else:
            score -= 8
            reasons.append("different email")
    if a.phone and b.phone and a.phone != b.phone:
        score -= 6
        reasons.append("different phone")
    if not agreeing:
        # A name alone is medium evidence (namesakes exist); a first name alone or one read from an
        # address is weaker still.
        score = min(score, 70 if (len(a.tokens) < 2 or len(b.tokens) < 2) else 85)
    return max(0, min(99, round(score))), reasons


def find_duplicates(records: Iterable[MatchRecord], **options: int) -> tuple[list[CandidatePair], MatchStats]:
    """Convenience wrapper: ``(pairs, stats)`` of :class:`DuplicateFinder` over ``records``."""
    finder = DuplicateFinder(**options)
    pairs = finder.find(list(records))
    return pairs, finder.stats
