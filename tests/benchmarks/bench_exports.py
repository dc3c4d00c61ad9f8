"""Export benchmark (``make bench``): time and peak memory of exporting 10k and 100k leads per format.

The real export step runs (ExportService.run -> SelectionResolver -> row writers -> S3MultipartUpload),
fed by a synthetic lead repository that makes each inbox page on demand (so the leads themselves are never
all in memory) and an S3 client stub that keeps only part sizes. Peak memory is Python allocations
(tracemalloc) during the step; time is wall-clock on this machine. Comparing 10k with 100k leads in the
same run shows whether memory stays bounded (it should not grow with the row count, apart from openpyxl's
shared-string-free temp file, which is on disk). Writes the section between the ``<!-- bench:exports -->``
markers of docs/benchmarks.md when ``--write`` is given.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
MARK_START, MARK_END = "<!-- bench:exports -->", "<!-- /bench:exports -->"
from tests.benchmarks.sections import write_section  # noqa: E402


def _synthetic_repo(count: int):
    from leadtide.models.common import ChannelType
    from leadtide.models.leads import Lead
    from tests.fakes import FakeLeadRepository

    class SyntheticLeads(FakeLeadRepository):
        """``count`` leads of tenant t1, generated page by page (cursor = offset)."""

        def query_leads(self, tenant_id, query):
            start = int(query.cursor or 0)
            end = min(start + query.limit, count)
            base = datetime(2024, 1, 1, tzinfo=UTC)
            leads = [
                Lead(
                    lead_id=f"{i:032x}",
                    tenant_id=tenant_id,
                    name=f"Lead number {i}",
                    email=f"lead{i}@example.com",
                    phone=f"+1555{i:07d}",
                    company="Acme, Inc." if i % 3 else '=HYPERLINK("x")',
                    source_channel=ChannelType.WHATSAPP,
                    tags=["spring", "vip"] if i % 2 else [],
                    score=i % 101,
                    custom_fields={"budget": i * 10, "interests": ["boats", "kayaks"]},
                    last_message_preview="Hi, how much is the premium plan for a team of 12 people?",
                    created_at=base + timedelta(seconds=i),
                    updated_at=base + timedelta(seconds=i),
                    last_activity_at=base + timedelta(seconds=i),
                )
                for i in range(start, end)
            ]
            return leads, (str(end) if end < count else None)

    return SyntheticLeads()


class _S3Stub:
    """The S3 calls S3MultipartUpload makes; keeps sizes only."""

    def __init__(self) -> None:
        self.parts: list[int] = []
        self.total = 0

    def create_multipart_upload(self, **kw: Any) -> dict:
        return {"UploadId": "u"}

    def upload_part(self, Body: bytes, **kw: Any) -> dict:
        self.parts.append(len(Body))
        self.total += len(Body)
        return {"ETag": f"e{len(self.parts)}"}

    def complete_multipart_upload(self, **kw: Any) -> None:
        pass

    def put_object(self, Body: bytes, **kw: Any) -> None:
        self.total += len(Body)

    def abort_multipart_upload(self, **kw: Any) -> None:
        pass


def run_once(fmt: str, count: int) -> dict[str, Any]:
    from leadtide.bulk.ports import CustomFieldColumn
    from leadtide.bulk.selection import SelectionResolver
    from leadtide.dal.exports import S3MultipartUpload
    from leadtide.exports.ports import ArtifactStorage
    from leadtide.exports.service import ExportService
    from leadtide.models.auth import Principal
    from leadtide.models.common import Role
    from leadtide.models.exports import ExportCreate
    from tests.bulk_fakes import FakeCollections, FakeCustomFields, FakeExportRepository, RecordingEnqueue

    stub = _S3Stub()

    class StubStorage(ArtifactStorage):
        def open_upload(self, key, *, content_type):
            return S3MultipartUpload(stub, "bucket", key, content_type=content_type)

        def put(self, key, body, *, content_type):
            stub.put_object(Body=body)

        def presigned_get(self, key, *, expires_in, filename):
            return "https://example.invalid/" + key

    queue = RecordingEnqueue()
    service = ExportService(
        FakeExportRepository(),
        StubStorage(),
        SelectionResolver(_synthetic_repo(count), FakeCollections()),
        FakeCustomFields(
            [CustomFieldColumn("budget", "Budget"), CustomFieldColumn("interests", "Interests")]
        ),
        queue,
    )
    export = service.create(Principal("t1", "u", Role.ADMIN), ExportCreate(format=fmt))  # type: ignore[arg-type]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    cpu = time.process_time()
    service.run("t1", export.export_id)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    done = service.get(Principal("t1", "u", Role.ADMIN), export.export_id)
    assert done.status == "completed" and done.rows == count, done
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "rss_mib": peak / 1024,
        "rss_growth_mib": (peak - before) / 1024,
        "mib": stub.total / 2**20,
        "parts": len(stub.parts),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="update this markdown file (docs/benchmarks.md)")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--formats", default="csv,json,xlsx")
    parser.add_argument("--one", help="internal: run one FORMAT:COUNT and print its figures as JSON")
    args = parser.parse_args()
    if args.one:
        fmt, n = args.one.split(":")
        print(json.dumps(run_once(fmt, int(n))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for fmt in args.formats.split(","):
        for n in sizes:
            # a fresh process per measurement, so max RSS belongs to this export alone
            out = subprocess.run(
                [sys.executable, __file__, "--one", f"{fmt}:{n}"], check=True, capture_output=True, text=True
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            rows.append(
                f"| {fmt} | {n:,} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {n / r['cpu_seconds']:,.0f} | "
                f"{r['mib']:.1f} | {r['parts']} | {r['rss_mib']:.0f} | {r['rss_growth_mib']:.0f} |"
            )
            print(fmt, n, r, flush=True)
    small, large = sizes[0], sizes[-1]
    section = "\n".join(
        [
            MARK_START,
            "## Exports",
            "",
            f"`tests/benchmarks/bench_exports.py`: the real export step over {small:,} and {large:,} synthetic "
            "leads (29 lead fields + 2 custom fields), pages generated on demand, S3 replaced by a stub that "
            "keeps part sizes; each measurement in a fresh process. CPU seconds are the process's own (the "
            "machine was shared with other work, so wall seconds are inflated); max RSS is the whole process "
            "(interpreter, pydantic, openpyxl included), growth is what the export step added to it. One run.",
            "",
            "| format | leads | wall s | CPU s | leads/CPU s | file MiB | 8 MiB parts | max RSS MiB | RSS growth MiB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"Compare the RSS growth of {small:,} and {large:,} leads: the step holds one multipart part "
            "(8 MiB), one page of leads and the writer's buffers, not the file.",
            MARK_END,
        ]
    )
    print(section)
    if args.write:
        write_section(args.write, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
