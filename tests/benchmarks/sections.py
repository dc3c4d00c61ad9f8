"""Writing one benchmark's section of docs/benchmarks.md, shared by the ``bench_*.py`` scripts.

A section starts with its opening marker line (``<!-- bench:<name> -->``) and ends with the closing one
(``<!-- /bench:<name> -->``); :func:`write_section` reads both from the section text itself.
"""

from __future__ import annotations

from pathlib import Path


def markers(section: str) -> tuple[str, str]:
    """``(opening, closing)`` marker lines of a section.

    Raises:
        ValueError: the text does not start with ``<!-- bench:<name> -->`` and end with the matching
            ``<!-- /bench:<name> -->``.
    """
    lines = section.strip().splitlines()
    start, end = (lines[0].strip(), lines[-1].strip()) if lines else ("", "")
    if not (start.startswith("<!-- bench:") and start.endswith(" -->")) or end != start.replace(
        "<!-- bench:", "<!-- /bench:", 1
    ):
        raise ValueError(
            f"a benchmark section must open with <!-- bench:NAME --> and close with its pair, got {start!r}"
        )
    return start, end


def write_section(path: Path, section: str) -> None:
    """Replace the section of ``path`` between ``section``'s markers with ``section``, or append it when
    the file has no such section (a missing file starts as ``# Benchmarks``). Other sections are kept
    byte for byte.

    Raises:
        ValueError: ``section`` lacks its markers (see :func:`markers`).
    """
    start, end = markers(section)
    body = section.strip()
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    head, found, rest = text.partition(start)
    replaced = found and end in rest
    text = head + body + rest.split(end, 1)[1] if replaced else text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")
