"""End to end over HTTP: ``leadtide import FILE --endpoint`` against the local runtime (moto's server, the
template's routes, the S3 -> EventBridge -> jobs-queue rule and the Jobs worker in background threads),
then ``--rollback``."""

from __future__ import annotations

import argparse
import io
import uuid

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


# A CSV, a workbook-like binary that is not UTF-8, and bodies a form parser would take apart.
_CSV = b"email,first name,company\nada@example.com,Ada,Analytical\nbob@example.com,Bob,\n"
_BINARY = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\xff\xfe\x80\x81key=file&x=\x00\x01" * 64
_MULTIPART = (
    b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
    b"email\r\nada@example.com\r\n--xyz--\r\n"
)
_FORM_LIKE = b"key=imports/other.csv&file=stolen&tagging=a%3Db&acl=public-read"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", _CSV),  # curl --data-binary's default
        ("application/x-www-form-urlencoded", _BINARY),  # not UTF-8: moto's server waited for it forever
        ("application/x-www-form-urlencoded", _FORM_LIKE),  # fields moto would read as S3 parameters
        ("multipart/form-data; boundary=xyz", _MULTIPART),  # moto kept only the "file" part
        ("multipart/form-data", _CSV),  # no boundary at all
        (None, _BINARY),
    ],
)
def test_a_presigned_put_stores_the_exact_bytes_whatever_the_content_type(local, content_type, body):
    # Given a presigned PUT URL of the artifacts bucket, signed without a content type
    s3 = local.client("s3")
    bucket = local.resources.buckets["ArtifactsBucket"]
    key = f"uploads-test/{uuid.uuid4().hex}"
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    # When a client PUTs the body with a form (or no) content type, as curl and HTML forms do
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.put(url, data=body, headers=headers, timeout=20)
    # Then S3 stores the raw body, byte for byte, as real S3 does, with the content type it was sent
    assert response.status_code == 200, response.text
    stored = s3.get_object(Bucket=bucket, Key=key)
    assert stored["Body"].read() == body
    if content_type:
        assert stored["ContentType"] == content_type
    # And the form-looking body did not become S3 parameters (no tagging, no other key written)
    assert s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"] == []
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="imports/other.csv")


def test_an_import_uploaded_with_curls_default_content_type_is_imported(local):
    # Given an import created without a content type (the upload URL signs none)
    token = local.token("e2e-curl", "admin", "e2e-admin")
    auth = {"authorization": f"Bearer {token}"}
    created = requests.post(
        f"{local.base_url}/imports", json={"filename": "contacts.csv"}, headers=auth, timeout=30
    )
    assert created.status_code == 201, created.text
    upload = created.json()["upload"]
    # When the file is uploaded as `curl --data-binary @contacts.csv URL` sends it
    put = requests.request(
        upload["method"],
        upload["url"],
        data=_CSV,
        headers={**upload["headers"], "Content-Type": "application/x-www-form-urlencoded"},
        timeout=20,
    )
    assert put.status_code == 200, put.text
    # Then the import reads the whole file and creates its two leads (not "the file is empty")
    import_id = created.json()["import_id"]
    job = import_command._poll(local.base_url, token, import_id, 120, io.StringIO())
    assert (job["status"], job["created"], job.get("error")) == ("completed", 2, None), job
