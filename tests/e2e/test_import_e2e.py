"""End to end over HTTP: ``leadtide import FILE --endpoint`` against the local runtime (moto's server, the
template's routes, the S3 -> EventBridge -> jobs-queue rule and the Jobs worker in background threads),
then ``--rollback``."""

from __future__ import annotations

import argparse
import io

import pytest
import requests

from leadtide_local import import_command
from leadtide_local.stack import LocalStack


@pytest.fixture(scope="module")
def local():
    with LocalStack.start(port=0, background_workers=True, retry_delay_seconds=0.2) as stack:
        yield stack


def _args(**values):
    base = {
        "file": None,
        "strategy": "skip",
        "key": "email",
        "update_mode": "fill_empty",
        "mapping_name": None,
        "endpoint": None,
        "rollback": None,
        "tenant": "e2e-import",
        "user": "e2e-admin",
    }
    return argparse.Namespace(**{**base, **values})


def test_import_command_uploads_follows_progress_and_rolls_back(local, tmp_path, shared_data, monkeypatch):
    source = shared_data / "crm_exports" / "hubspot_contacts_import_example.csv"
    path = tmp_path / "contacts.csv"
    path.write_bytes(source.read_bytes() + b"Bad,Row,not-an-email\n")
    token = local.token("e2e-import", "admin", "e2e-admin")
    out = io.StringIO()
    # When the file is imported through the command's own steps
    status, job = import_command.run_import(
        local.base_url,
        token,
        path,
        strategy="skip",
        key="email",
        update_mode="fill_empty",
        mapping_name=None,
        out=out,
    )
    # Then the upload went through S3's event to the pipeline and the counts are printed
    assert status == 0, out.getvalue()
    assert (job["status"], job["created"], job["failed"]) == ("completed_with_errors", 4, 1)
    text = out.getvalue()
    assert "\r[" in text and "created 4" in text and "error report (1 rows" in text
    headers = {"authorization": f"Bearer {token}"}
    leads = requests.get(f"{local.base_url}/leads", headers=headers, timeout=30).json()["items"]
    assert len(leads) == 4
    # And the rollback subcommand (through main, against the running endpoint) removes them again
    monkeypatch.setattr("sys.stdout", io.StringIO())
    code = import_command.main(_args(endpoint=local.base_url, rollback=job["import_id"]))
    assert code == 0
    assert requests.get(f"{local.base_url}/leads", headers=headers, timeout=30).json()["items"] == []


def test_import_command_refuses_a_missing_file_and_rollback_without_endpoint(tmp_path):
    assert import_command.main(_args(file=str(tmp_path / "nope.csv"))) == 2
    assert import_command.main(_args(rollback="a" * 32)) == 2
