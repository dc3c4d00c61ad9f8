"""``leadtide import FILE``: import a CSV/TSV/XLSX of leads through the API, as the SPA would.

Against a running ``leadtide local serve`` (``--endpoint http://127.0.0.1:3000``) or, without
``--endpoint``, an embedded local stack started for the command (its data is gone when it exits). Steps:
``POST /imports`` -> ``PUT`` the file to the presigned URL -> poll ``GET /imports/{id}`` with a progress
bar -> print the counts and the error-report link. ``--rollback IMPORT_ID`` rolls an import back instead
(needs ``--endpoint``: an embedded stack has no earlier imports).

Exit status: 0 completed (with or without rejected rows), 1 failed / awaiting a mapping / unreachable,
2 usage errors.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

_FINAL = {"completed", "completed_with_errors", "failed", "awaiting_mapping", "rolled_back"}
_BAR = 30


class CommandError(RuntimeError):
    """An API call failed; the message says which and why."""


def _call(
    method: str,
    url: str,
    token: str | None,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = dict(headers or {})
    if raw is not None and not any(k.lower() == "content-type" for k in hdrs):
        hdrs["content-type"] = "application/octet-stream"  # not urllib's form encoding
    if token:
        hdrs["authorization"] = f"Bearer {token}"
    if body is not None:
        hdrs["content-type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=hdrs)  # noqa: S310 - user's URL
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            payload = response.read()
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")[:500]
        raise CommandError(f"{method} {url.split('?')[0]} -> HTTP {error.code}: {text}") from None
    except urllib.error.URLError as error:
        raise CommandError(f"cannot reach {url.split('?')[0]}: {error.reason}") from None
    return json.loads(payload) if payload and payload[:1] in (b"{", b"[") else None


def progress_line(job: dict[str, Any]) -> str:
    """One-line progress: ``[#####-----]  42%  processing  4,200/10,000 rows  created 4,100 ...``."""
    total = job.get("rows_total") or 0
    done = job.get("rows_processed") or 0
    if job.get("status") in ("rolling_back", "rolled_back"):
        total = job.get("chunks_total") or 0
        done = (job.get("rollback") or {}).get("chunks_done", 0)
    share = done / total if total else 0.0
    filled = int(share * _BAR)
    return (
        f"[{'#' * filled}{'-' * (_BAR - filled)}] {share:4.0%}  {job.get('status', '?'):<21}"
        f" {done:,}/{total:,}  created {job.get('created', 0):,}  updated {job.get('updated', 0):,}"
        f"  skipped {job.get('skipped', 0):,}  failed {job.get('failed', 0):,}"
    )


def _poll(base: str, token: str, import_id: str, timeout: float, out: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = _call("GET", f"{base}/imports/{import_id}", token)
        out.write("\r" + progress_line(job))
        out.flush()
        if job["status"] in _FINAL:
            break
        time.sleep(0.5)
    out.write("\n")
    return job


def run_import(
    base: str,
    token: str,
    path: Path,
    *,
    strategy: str,
    key: str,
    update_mode: str,
    mapping_name: str | None,
    invalid_values: str = "drop_field",
    timeout: float = 3600,
    out: Any = sys.stdout,
) -> tuple[int, dict[str, Any]]:
    """Import ``path`` through the API at ``base``; return (exit status, the final import)."""
    content_type = {".csv": "text/csv", ".tsv": "text/tab-separated-values", ".txt": "text/plain"}.get(
        path.suffix.lower(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    body: dict[str, Any] = {
        "filename": path.name,
        "content_type": content_type,
        "dedupe": {"strategy": strategy, "key": key, "update_mode": update_mode},
        "invalid_values": invalid_values,
    }
    if mapping_name:
        body["mapping_name"] = mapping_name
    created = _call("POST", f"{base}/imports", token, body)
    import_id = created["import_id"]
    upload = created["upload"]
    out.write(f"import {import_id}: uploading {path.name} ({path.stat().st_size:,} bytes)\n")
    _call(upload["method"], upload["url"], None, raw=path.read_bytes(), headers=upload["headers"])
    job = _poll(base, token, import_id, timeout, out)
    status = job.get("status")
    if status == "awaiting_mapping":
        out.write(f"waiting for a mapping: {job.get('error')}\n")
        preview = _call("GET", f"{base}/imports/{import_id}/preview", token)
        out.write("proposed mapping: " + json.dumps(preview.get("mapping"), indent=None) + "\n")
        out.write(f"fix it with PUT {base}/imports/{import_id}/mapping then POST .../start\n")
        return 1, job
    if status == "failed":
        out.write(f"import failed: {job.get('error')}\n")
        return 1, job
    out.write(
        f"{status}: {job.get('rows_total', 0):,} rows - created {job['created']:,}, updated {job['updated']:,}, "
        f"skipped {job['skipped']:,}, failed {job['failed']:,}"
        + (
            f", imported without some values {job['rows_with_dropped_values']:,}"
            if job.get("rows_with_dropped_values")
            else ""
        )
        + "\n"
    )
    if job.get("error_report_available"):
        link = _call("GET", f"{base}/imports/{import_id}/errors", token)
        out.write(f"error report ({link['rows']:,} rows, link valid 15 min): {link['url']}\n")
    if status not in ("completed", "completed_with_errors"):
        return 1, job
    return 0, job


def run_rollback(
    base: str, token: str, import_id: str, *, timeout: float = 3600, out: Any = sys.stdout
) -> int:
    """Roll an import back through the API; 0 once it is ``rolled_back``."""
    _call("POST", f"{base}/imports/{import_id}/rollback", token)
    job = _poll(base, token, import_id, timeout, out)
    rollback = job.get("rollback") or {}
    out.write(
        f"{job['status']}: deleted {rollback.get('deleted', 0):,} leads, restored {rollback.get('restored', 0):,}"
        f" (changed since the import: {rollback.get('changed_since_import', 0):,})\n"
    )
    return 0 if job["status"] == "rolled_back" else 1


def main(args: Any) -> int:
    """Entry point of ``leadtide import`` (``args`` from the argparse parser in ``cli.py``)."""
    path = Path(args.file) if args.file else None
    if args.rollback is None and (path is None or not path.is_file()):
        print(f"leadtide import: no such file: {args.file}", file=sys.stderr)
        return 2
    if args.rollback is not None and not args.endpoint:
        print(
            "leadtide import: --rollback needs --endpoint (a running `leadtide local serve`)", file=sys.stderr
        )
        return 2
    try:
        if args.endpoint:
            from leadtide_local.auth import issue_token

            base = args.endpoint.rstrip("/")
            token = issue_token(args.tenant, "admin", args.user)
            if args.rollback is not None:
                return run_rollback(base, token, args.rollback)
            assert path is not None
            return run_import(
                base,
                token,
                path,
                strategy=args.strategy,
                key=args.key,
                update_mode=args.update_mode,
                mapping_name=args.mapping_name,
                invalid_values=getattr(args, "invalid_values", "drop_field"),
            )[0]
        from leadtide_local.stack import LocalStack

        print("starting an embedded local stack (its data is discarded on exit; use --endpoint to keep it)")
        with LocalStack.start(port=0, background_workers=True, retry_delay_seconds=0.2) as stack:
            assert path is not None
            return run_import(
                stack.base_url,
                stack.token(args.tenant, "admin", args.user),
                path,
                strategy=args.strategy,
                key=args.key,
                update_mode=args.update_mode,
                mapping_name=args.mapping_name,
                invalid_values=getattr(args, "invalid_values", "drop_field"),
            )[0]
    except CommandError as error:
        print(f"\nleadtide import: {error}", file=sys.stderr)
        return 1
