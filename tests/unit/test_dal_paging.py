"""One page of a filtered Query (leadtide.dal.cursor.read_filtered_page): stop at the limit, at the read
budget or at the end, and hand back the right key to go on from."""

from __future__ import annotations

from typing import Any

from leadtide.dal.cursor import read_filtered_page


def _pages(*pages: list[int], last_keys: list[str | None]) -> list[dict[str, Any]]:
    return [
        {"Items": [{"n": n} for n in items], "ScannedCount": len(items), "LastEvaluatedKey": key}
        for items, key in zip(pages, last_keys, strict=True)
    ]


def _read(pages: list[dict[str, Any]], limit: int, budget: int = 2000) -> tuple[list[int], Any]:
    return read_filtered_page(
        pages,
        limit=limit,
        pick=lambda raw: raw["n"] if raw["n"] % 2 == 0 else None,  # even numbers match
        key_of=lambda raw: {"at": raw["n"]},
        evaluated=lambda page: page["ScannedCount"],
        budget=budget,
    )


def test_a_page_that_stops_at_the_limit_goes_on_from_its_last_result():
    pages = _pages([1, 2, 3, 4, 5, 6], last_keys=[None])
    assert _read(pages, limit=2) == ([2, 4], {"at": 4})


def test_a_page_whose_last_result_is_the_last_item_of_the_query_has_no_key():
    # The second (last) DynamoDB page ends exactly with the limit-th match
    pages = _pages([1, 2, 3], [5, 7, 4], last_keys=["k1", None])
    assert _read(pages, limit=2) == ([2, 4], None)


def test_a_page_whose_last_result_ends_a_dynamodb_page_goes_on_from_it():
    pages = _pages([1, 2, 3], [5, 7, 4], last_keys=["k1", "k2"])
    assert _read(pages, limit=2) == ([2, 4], {"at": 4})


def test_a_page_that_spends_its_budget_goes_on_from_the_last_key_read():
    pages = _pages([1, 3], [5, 2], [4, 6], last_keys=["k1", "k2", None])
    assert _read(pages, limit=5, budget=4) == ([2], "k2")


def test_the_end_of_the_query_has_no_key():
    assert _read(_pages([1, 2], [3, 4], last_keys=["k1", None]), limit=5) == ([2, 4], None)
    assert _read([], limit=5) == ([], None)
