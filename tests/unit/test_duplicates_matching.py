"""Duplicate detection: exact keys, fuzzy name/company matching, blocking that scales, no namesake noise."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leadtide.duplicates.matching import DuplicateFinder, find_duplicates, fold, soundex
from leadtide.duplicates.ports import MatchRecord
from tests.benchmarks.dup_data import generate_leads


def _id(n: int) -> str:
    return f"{n:032x}"


def _pairs(records):
    pairs, _ = find_duplicates(records)
    return {(p.lead_a, p.lead_b): p for p in pairs}


def test_soundex_follows_the_standard_rules():
    # Examples from the US National Archives' Soundex guide (h/w do not separate equal codes)
    assert [soundex(w) for w in ("robert", "rupert", "rubin", "ashcraft", "tymczak", "pfister")] == [
        "R163",
        "R163",
        "R150",
        "A261",
        "T522",
        "P236",
    ]


def test_fold_strips_accents_case_and_punctuation():
    assert fold("  José-María  O'Núñez ") == "jose maria o nunez"


def test_exact_identity_keys_score_100_with_every_reason():
    records = [
        MatchRecord(_id(1), name="Ana", email="ana@x.com", phone="+14155550100"),
        MatchRecord(_id(2), name="Someone Else", email="ana@x.com", phone="+14155550100"),
        MatchRecord(_id(3), name="Z", instagram_id="1789"),
        MatchRecord(_id(4), name="Y", instagram_id="1789"),
    ]
    found = _pairs(records)
    assert found[(_id(1), _id(2))].score == 100
    assert set(found[(_id(1), _id(2))].reasons) == {"same email", "same phone"}
    assert found[(_id(3), _id(4))].reasons == ["same Instagram account"]


def test_fuzzy_typos_swaps_and_accents_are_found_with_reasons():
    records = [
        MatchRecord(_id(1), first_name="Daniela", last_name="Delrison", company="Rapid Foods GmbH"),
        MatchRecord(_id(2), first_name="Dnaiela", last_name="Delrison", company="Rapid Foods"),
        MatchRecord(_id(3), first_name="John", last_name="Smith", company="Acme Inc", email="john@acme.com"),
        MatchRecord(_id(4), name="Smith John", email="j.smith@acme.com"),
        MatchRecord(_id(5), first_name="José", last_name="Núñez"),
        MatchRecord(_id(6), first_name="Jose", last_name="Nunez"),
    ]
    found = _pairs(records)
    typo = found[(_id(1), _id(2))]
    assert typo.score >= 90 and "same company" in typo.reasons
    swapped = found[(_id(3), _id(4))]
    assert "same email domain (acme.com)" in swapped.reasons and swapped.score >= 90
    assert found[(_id(5), _id(6))].reasons == ["name 100% similar"]
    assert len(found) == 3  # and nothing else: Daniela, John and José are three different people


def test_namesakes_by_first_name_are_not_duplicates():
    # Given many different people who share common first names
    records = [
        MatchRecord(_id(n), first_name=first, last_name=last, company=company)
        for n, (first, last, company) in enumerate(
            [
                ("Maria", "Garcia", "Blue Leaf"),
                ("Maria", "Gonzalez", "Sun Works"),
                ("Maria", "Silva", None),
                ("Maria", "Santos", None),
                ("John", "Smith", None),
                ("John", "Brown", None),
                ("John", "Miller", "Acme"),
                ("Maria", None, None),
                ("Maria", None, "Other Co"),
            ]
        )
    ]
    found = _pairs(records)
    # Then no pair is strong, and a bare first name never scores above 70
    assert all(p.score <= 70 for p in found.values()), found
    assert (_id(0), _id(1)) not in found and (_id(4), _id(5)) not in found


def test_different_company_penalises_an_identical_name():
    acme = [
        MatchRecord(_id(1), name="Lia Kovac", company="Acme"),
        MatchRecord(_id(2), name="Lia Kovac", company="Acme"),
    ]
    zenith = [acme[0], MatchRecord(_id(2), name="Lia Kovac", company="Zenith")]
    assert _pairs(acme)[(_id(1), _id(2))].score > 90
    assert _pairs(zenith) == {}  # under the reporting threshold
    low = DuplicateFinder(min_score=0).find(zenith)
    assert low[0].score < 80 and "different company" in low[0].reasons


def test_blocking_scales_and_keeps_recall_on_planted_duplicates():
    # Given 5,000 generated leads with planted duplicates
    records, planted = generate_leads(5000, seed=11)
    finder = DuplicateFinder()
    pairs = finder.find(records)
    found = {(p.lead_a, p.lead_b) for p in pairs}
    # Then most planted pairs are found while comparing a small fraction of all pairs
    recall = len(found & planted) / len(planted)
    assert recall >= 0.95, recall
    assert finder.stats.pairs_compared < 0.02 * (5000 * 4999 / 2)
    strong = {(p.lead_a, p.lead_b) for p in pairs if p.score >= 90}
    assert len(strong & planted) / len(strong) >= 0.9


def test_oversized_blocks_use_the_sorted_neighbourhood():
    # Given one huge block (everyone at the same company domain), with one typo pair inside
    records = [
        MatchRecord(_id(n), first_name=f"P{n:04d}x", last_name="Q", email=f"p{n}@big.com") for n in range(400)
    ]
    records.append(MatchRecord(_id(1000), first_name="P0200y", last_name="Q", email="other@big.com"))
    finder = DuplicateFinder(max_block=50, window=10)
    pairs = finder.find(records)
    # Then comparisons stay linear in the block size (each member meets at most 2 x window others per
    # block, against 401 x 400 / 2 = 80,200 for all-against-all), and the typo pair is still found
    assert finder.stats.oversized_blocks == finder.stats.blocks
    assert finder.stats.pairs_compared <= finder.stats.blocks * 401 * 2 * 10
    assert (_id(200), _id(1000)) in {(p.lead_a, p.lead_b) for p in pairs}


@given(st.lists(st.text(min_size=0, max_size=12), min_size=0, max_size=30))
def test_any_input_gives_ordered_unique_pairs_within_range(names):
    records = [MatchRecord(_id(n), name=name or None) for n, name in enumerate(names)]
    pairs, _ = find_duplicates(records)
    keys = [(p.lead_a, p.lead_b) for p in pairs]
    assert len(keys) == len(set(keys))
    assert all(a < b for a, b in keys)
    assert all(0 <= p.score <= 100 for p in pairs)
