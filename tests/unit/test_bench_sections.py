"""The benchmark scripts' writer of docs/benchmarks.md sections (tests/benchmarks/sections.py)."""

from __future__ import annotations

import pytest

from tests.benchmarks.sections import markers, write_section

DOC = """# Benchmarks

<!-- bench:a -->
old a
<!-- /bench:a -->

<!-- bench:b -->
b stays
<!-- /bench:b -->
"""


def test_a_section_is_replaced_between_its_markers_and_the_rest_kept(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC, encoding="utf-8")
    write_section(doc, "<!-- bench:a -->\nnew a\nline 2\n<!-- /bench:a -->\n")
    text = doc.read_text(encoding="utf-8")
    assert "old a" not in text and "new a\nline 2" in text
    assert text.count("<!-- bench:a -->") == 1
    assert text.endswith("<!-- bench:b -->\nb stays\n<!-- /bench:b -->\n")
    assert text.startswith("# Benchmarks\n\n<!-- bench:a -->\nnew a")


def test_a_new_section_is_appended_and_a_missing_file_created(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC, encoding="utf-8")
    write_section(doc, "<!-- bench:c -->\nc\n<!-- /bench:c -->")
    assert doc.read_text(encoding="utf-8").endswith(
        "b stays\n<!-- /bench:b -->\n\n<!-- bench:c -->\nc\n<!-- /bench:c -->\n"
    )
    fresh = tmp_path / "new.md"
    write_section(fresh, "<!-- bench:c -->\nc\n<!-- /bench:c -->")
    assert fresh.read_text(encoding="utf-8") == "# Benchmarks\n\n<!-- bench:c -->\nc\n<!-- /bench:c -->\n"


@pytest.mark.parametrize(
    "section",
    ["no markers", "<!-- bench:a -->\nx\n<!-- /bench:b -->", "<!-- bench:a -->\nx", ""],
)
def test_a_section_without_its_pair_of_markers_is_refused(tmp_path, section):
    with pytest.raises(ValueError):
        markers(section)
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC, encoding="utf-8")
    with pytest.raises(ValueError):
        write_section(doc, section)
    assert doc.read_text(encoding="utf-8") == DOC
