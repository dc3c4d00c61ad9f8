"""Reading CSVs of emails/phones for static-list imports: header detection, chosen column, guessing."""

import pytest

from leadtide.lists.service import MAX_IMPORT_ROWS, _read_csv
from leadtide.models.errors import UnprocessableError


def test_header_columns_are_recognised():
    rows = _read_csv("Name,E-mail,Mobile\nAna,ana@x.com,+1 415 555 0123\n\n", None)
    assert rows == [[("ana@x.com", "email"), ("+1 415 555 0123", "phone")]]


def test_without_header_every_cell_is_guessed():
    assert _read_csv("ana@x.com,4155550123\n", None) == [[("ana@x.com", None), ("4155550123", None)]]


def test_chosen_column_and_errors():
    assert _read_csv("id,Contact\n1,bob@x.com\n", "contact") == [[("bob@x.com", None)]]
    with pytest.raises(UnprocessableError, match="not in the CSV header"):
        _read_csv("id,Contact\n1,bob@x.com\n", "email")
    with pytest.raises(UnprocessableError, match="rows per import"):
        _read_csv("email\n" + "a@x.com\n" * (MAX_IMPORT_ROWS + 1), None)
