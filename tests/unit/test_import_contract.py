"""The layering contract, checked on the source (ast): logic never imports the dal; the dal imports only
the vocabulary (models), the ports, the settings and itself. ``leadtide.wiring`` is the one place that
joins them (and the tests)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "shared" / "leadtide"


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module imported by ``path`` (top level and inside functions), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "leadtide":  # from leadtide import dal
                found += [(node.lineno, f"leadtide.{alias.name}") for alias in node.names]
    return found


def _dal_may_import(module: str) -> bool:
    parts = module.split(".")
    if parts[0] != "leadtide" or len(parts) == 1:
        return True  # third-party, the standard library, or the package itself
    if parts[1] in ("dal", "models", "settings", "ports"):
        return True
    return len(parts) >= 3 and parts[2] in ("ports", "models")  # leadtide.<context>.ports / .models


def _violations() -> list[str]:
    out = []
    logic = [p for p in PACKAGE.rglob("*.py") if "dal" not in p.relative_to(PACKAGE).parts[:1]]
    for path in [*logic, *(REPO / "functions").rglob("*.py")]:
        if path == PACKAGE / "wiring.py":
            continue
        for line, module in _imports(path):
            if module == "leadtide.dal" or module.startswith("leadtide.dal."):
                out.append(f"{path.relative_to(REPO)}:{line} imports {module} (only leadtide.wiring may)")
    for path in (PACKAGE / "dal").rglob("*.py"):
        for line, module in _imports(path):
            if not _dal_may_import(module):
                out.append(f"{path.relative_to(REPO)}:{line} imports {module} (the dal imports no logic)")
    return out


def test_logic_never_imports_the_dal_and_the_dal_imports_no_logic():
    assert _violations() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from leadtide.dal.leads import DynamoLeadRepository\n", "logic"),
        ("def f():\n    import leadtide.dal.aws\n", "logic"),
        ("from leadtide.duplicates.matching import score_pair\n", "dal"),
    ],
)
def test_the_contract_sees_a_violation(tmp_path, monkeypatch, source, expected):
    # Given a package whose logic (or dal) module breaks the rule, top level or lazily
    package = tmp_path / "shared" / "leadtide"
    (package / "dal").mkdir(parents=True)
    (tmp_path / "functions").mkdir()
    target = package / ("dal/bad.py" if expected == "dal" else "leads/bad.py")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    (package / "dal" / "ok.py").write_text("from leadtide.leads.ports import LeadRepository\nimport boto3\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "REPO", tmp_path)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "PACKAGE", package)
    # Then the contract names it, and only it
    (violation,) = _violations()
    assert violation.startswith(str(target.relative_to(tmp_path)))
