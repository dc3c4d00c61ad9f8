"""leadtide_local.cli: the commands that need no running stack."""

from __future__ import annotations

import sys
import types

import pytest

from leadtide_local.auth import load_signing_key, verify_token
from leadtide_local.cli import main


def test_token_prints_a_token_the_local_authorizer_accepts(tmp_path, monkeypatch, capsys):
    # Given a key file location
    key_file = tmp_path / "key"
    monkeypatch.setenv("LEADTIDE_LOCAL_KEY_FILE", str(key_file))
    # When asking for a token
    status = main(
        ["local", "token", "--tenant", "acme", "--role", "rep", "--user", "u-9", "--email", "u9@acme.test"]
    )
    # Then only the token is printed, and it verifies with the stored key
    printed = capsys.readouterr().out.strip()
    assert status == 0 and "\n" not in printed
    claims = verify_token(printed, load_signing_key(key_file))
    assert (claims["custom:tenant_id"], claims["custom:role"], claims["sub"], claims["email"]) == (
        "acme",
        "rep",
        "u-9",
        "u9@acme.test",
    )


def test_token_refuses_an_unknown_role(capsys):
    # Given a role outside the three / When parsing / Then a usage error (exit 2)
    with pytest.raises(SystemExit) as exit_info:
        main(["local", "token", "--tenant", "acme", "--role", "owner"])
    assert exit_info.value.code == 2


def test_demo_runs_the_demo_module(monkeypatch):
    # Given a demo module
    calls = []
    module = types.ModuleType("leadtide_local.demo")
    module.main = lambda: calls.append("ran") or 0
    monkeypatch.setitem(sys.modules, "leadtide_local.demo", module)
    # When running `leadtide demo` and `leadtide local demo`
    # Then its main() is called each time
    assert main(["demo"]) == 0
    assert main(["local", "demo"]) == 0
    assert calls == ["ran", "ran"]
