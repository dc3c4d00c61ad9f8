"""The API conforms to its own OpenAPI document, as a third-party client sees it: schemathesis.

``leadtide local serve`` runs as a user starts it (its own process, a free port, its own signing key);
schemathesis (``st run``) loads ``<base>/openapi.json``, generates requests for every operation (examples,
coverage, fuzzing, stateful phases) with an admin token, and checks every answer. The command is the
README's (Testing section), with a bounded example count and a fixed seed so that CI is repeatable and
takes about two minutes on two cores.

Checks: all of them, less two whose expectation an API behind API Gateway cannot meet, for the reasons below
(docs/decisions.md):

* ``unsupported_method`` expects 405 for a method the document does not list; an HTTP API answers 404
  ``{"message": "Not Found"}`` for any method/path pair no route declares (HTTP APIs route on method and
  path together and cannot customise that answer), and the local stack answers as API Gateway does;
* ``positive_data_acceptance`` expects every schema-valid request to be accepted; Leadtide refuses valid-
  shaped requests the schema cannot express: an opaque ``cursor`` it did not issue (400), cross-field rules
  (``created_from`` after ``created_to``, a selection *and* filters), values the domain validates (an
  unparseable phone, a custom-field key that is taken). Those are 400/422 with the error document, which
  the document lists.

Everything else holds: no 5xx (``not_a_server_error``), only documented status codes, content types,
headers and bodies (``status_code_conformance``, ``content_type_conformance``,
``response_headers_conformance``, ``response_schema_conformance``), invalid data refused
(``negative_data_rejection``), missing credentials refused (``ignored_auth``, ``missing_required_header``),
and the stateful checks (``use_after_free``, ``ensure_resource_availability``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from leadtide_local.auth import issue_token, load_signing_key
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 5
"""Test cases per operation and phase: about 1,000 requests over the 80 operations, ~2 minutes on 2 cores."""
SEED = 20261207
"""Fixed, so a CI failure reproduces (`st run ... --seed 20261207`); change it to explore further."""
EXCLUDED_CHECKS = ("unsupported_method", "positive_data_acceptance")
"""See the module docstring: expectations an API Gateway HTTP API cannot meet, not defects."""


def _st() -> str:
    """The ``st`` executable installed beside this interpreter (schemathesis is a dev dependency)."""
    found = Path(sys.executable).with_name("st")
    return (
        str(found) if found.exists() else shutil.which("st") or pytest.fail("schemathesis is not installed")
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``leadtide local serve --port 0`` in its own process: yields ``(base_url, signing_key)``."""
    work = tmp_path_factory.mktemp("serve")
    key_file = work / "local-signing-key"
    env = {**os.environ, "LEADTIDE_LOCAL_KEY_FILE": str(key_file)}
    log = (work / "serve.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "leadtide_local.cli", "local", "serve", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        first_line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"(http://127\.0\.0\.1:\d+)", first_line)
        if not match:
            log.seek(0)
            pytest.fail(f"leadtide local serve did not start: {first_line!r}\n{log.read()[-4000:]}")
        base_url = match.group(1)
        deadline = time.monotonic() + 60
        while requests.get(f"{base_url}/_local/health", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "leadtide local serve never became healthy"
            time.sleep(0.5)
        # The Api function builds its document on the first request (seconds on a busy machine): build it
        # now, so schemathesis' own schema download (a 10 s timeout) gets the cached one.
        assert requests.get(f"{base_url}/openapi.json", timeout=300).status_code == 200
        yield base_url, load_signing_key(key_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def test_every_answer_conforms_to_the_openapi_document(served, tmp_path):
    base_url, key = served
    # Given an admin of a fresh tenant, minted as `leadtide local token --tenant ... --role admin` does
    token = issue_token("schemathesis", "admin", "st-admin", key=key)
    # When schemathesis generates requests for every operation of the served document
    command = [
        _st(),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "-H",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: with two, CPython 3.11's compile() raced in schemathesis' lazy imports (SystemError
        # "AST constructor recursion depth mismatch", an error of the tool, not of the API).
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--generation-database",
        "none",
        "--no-color",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    # Then it finds no server error and no answer the document does not describe
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    selected = re.search(r"Operations:\s+(\d+) selected", output)
    assert selected and int(selected.group(1)) >= 80, output[-3000:]  # every operation was tested
