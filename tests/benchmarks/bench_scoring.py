"""Scoring benchmarks (``make bench``): batch re-scoring throughput per core and the modelled nightly cost.

One run, one machine, one core (no threads). Measured:

- rules engine only: ``CompiledModel.score`` of the ``b2b_saas`` template over synthetic leads (varied
  titles, email domains, company sizes, 0-40 behaviour occurrences each over 60 days), leads/s;
- page path: ``ScoringService.rescore_page`` in pages of 250 over an in-memory store (model selection,
  scoring, breakdown dicts, change detection, history entries, event objects): a first pass where every
  lead changes (all written) and a second where nothing changed (no writes) — the nightly steady state is
  in between;
- item decoding: ``LeadItem.from_raw_data`` + ``EngagementItem.from_raw_data`` of DynamoDB-JSON items as
  BatchGetItem returns them (the CPU the DynamoDB path adds per lead);
- rules + model: when ``leadtide.ml`` offers a predictor usable offline (none does yet: its predictor
  reads the model registry and S3), else reported as not measured.

The nightly 1M-lead time and cost is a *model* from those per-lead CPU times plus stated assumptions for
AWS latencies and item sizes (us-east-1 on-demand prices, 2025). Writes the section between the
``<!-- bench:scoring -->`` markers of docs/benchmarks.md when ``--write`` is given.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "shared"), str(REPO)]

from leadtide.models.scoring import ScoringModel  # noqa: E402
from leadtide.scoring.rules import CompiledModel  # noqa: E402
from leadtide.scoring.service import PAGE_SIZE, ScoringService  # noqa: E402
from leadtide.scoring.store import ScoringInput, ScoringStore  # noqa: E402
from leadtide.scoring.templates import template_model  # noqa: E402

MARK_START, MARK_END = "<!-- bench:scoring -->", "<!-- /bench:scoring -->"
NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
TITLES = ["CEO", "VP Marketing", "Head of Sales", "Analyst", "Student", "Director of Ops", "Engineer", None]
DOMAINS = ["gmail.com", "acme.io", "hotmail.com", "globex.com", "initech.co", "yahoo.com"]
EVENTS = ["email_opened", "email_clicked", "page_viewed", "email_replied", "form_submitted", "meeting_booked"]

# ---- prices (us-east-1, on-demand, 2025) and latency assumptions of the cost model
LAMBDA_GB_S = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1e6
SQS_REQUEST = 0.40 / 1e6
DDB_RRU = 0.125 / 1e6
DDB_WRU = 0.625 / 1e6
EVENTS_PUT = 1.00 / 1e6
MEMORY_GB = 1.769  # one full vCPU
BATCH_GET_MS = 15.0  # one BatchGetItem of 100 small items
TRANSACT_MS = 20.0  # one TransactWriteItems of 2 items
PUT_EVENTS_MS = 20.0
CHANGED_SHARE = 0.30  # leads whose score or grade moves on a night (decay + new events)
LEAD_ITEM_KB, ENGAGEMENT_KB, HISTORY_KB = 1.5, 1.5, 2.0
WRITE_THREADS = 8  # concurrent TransactWriteItems per page (assumption for the "threaded writes" line)


class MemoryStore(ScoringStore):
    """Just enough store for rescore_page: precomputed inputs, counted saves."""

    def __init__(self, inputs: dict[str, ScoringInput], model: ScoringModel):
        self.inputs = inputs
        self.model = model
        self.saves = 0

    def list_models(self, tenant_id):
        return [self.model]

    def get_model(self, tenant_id, model_id):
        return self.model

    def put_model(self, model, *, expected_version):
        raise NotImplementedError

    def delete_model(self, tenant_id, model_id):
        raise NotImplementedError

    def default_model_id(self, tenant_id):
        return self.model.model_id

    def set_default_model(self, tenant_id, model_id):
        raise NotImplementedError

    def load_for_scoring(self, tenant_id, lead_ids):
        return {i: self.inputs[i] for i in lead_ids if i in self.inputs}

    def record_occurrences(self, tenant_id, lead_id, occurrences):
        return 0

    def save_score(self, tenant_id, lead_id, values, history):
        self.saves += 1
        self.inputs[lead_id].lead.update(values)

    def list_history(self, tenant_id, lead_id, *, limit, cursor):
        return [], None

    def iter_lead_id_pages(self, tenant_id, page_size):
        return iter(())


class NullEvents:
    def publish(self, events):
        return None


def synthetic_inputs(n: int, seed: int = 7) -> dict[str, ScoringInput]:
    rng = random.Random(seed)
    now_ts = NOW.timestamp()
    out = {}
    for i in range(n):
        lead_id = f"{i:032x}"
        occ: dict[str, list[float]] = {}
        for _ in range(rng.randint(0, 40)):
            occ.setdefault(rng.choice(EVENTS), []).append(now_ts - rng.uniform(0, 60) * 86400)
        lead = {
            "lead_id": lead_id,
            "tenant_id": "bench",
            "job_title": rng.choice(TITLES),
            "email": f"p{i}@{rng.choice(DOMAINS)}",
            "company": rng.choice(["Acme", None, "Globex"]),
            "custom_fields": {"company_size": rng.choice([5, 40, 120, 800, 5000])},
            "tags": [],
            "source_channel": "manual",
            "status": "New",
            "score_breakdown": [],
            "created_at": NOW - timedelta(days=30),
        }
        out[lead_id] = ScoringInput(lead=lead, occurrences=occ, counts={k: len(v) for k, v in occ.items()})
    return out


def bench_rules(n: int) -> float:
    model = CompiledModel(template_model("b2b_saas"))
    inputs = list(synthetic_inputs(n).values())
    now_ts = NOW.timestamp()
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        for inp in inputs:
            model.score(inp.lead, inp.occurrences, now_ts)
        runs.append(time.perf_counter() - t)
    return n / statistics.median(runs)


def bench_page_path(n: int) -> tuple[float, float, int]:
    spec = template_model("b2b_saas")
    model = ScoringModel(
        **spec.model_dump(),
        model_id="b" * 32,
        tenant_id="bench",
        active=True,
        is_default=True,
        created_at=NOW,
        updated_at=NOW,
    )
    inputs = synthetic_inputs(n)
    store = MemoryStore(inputs, model)
    service = ScoringService(None, NullEvents(), store=store, clock=lambda: NOW)  # type: ignore[arg-type]
    ids = list(inputs)
    pages = [ids[i : i + PAGE_SIZE] for i in range(0, len(ids), PAGE_SIZE)]
    timings = []
    for _ in range(2):
        t = time.perf_counter()
        for page in pages:
            service.rescore_page("bench", page, "nightly decay")
        timings.append(time.perf_counter() - t)
    return n / timings[0], n / timings[1], store.saves


def bench_decode(n: int) -> float:
    from leadtide.dal.items import EngagementItem, LeadItem

    inputs = list(synthetic_inputs(min(n, 5000)).values())
    raws = []
    for inp in inputs:
        lead = inp.lead
        item = LeadItem(
            f"T#bench#L#{lead['lead_id']}",
            "PROFILE",
            list_pk="T#bench",
            created_sk="x",
            activity_sk="x",
            score_sk="x",
            lead_id=lead["lead_id"],
            tenant_id="bench",
            job_title=lead["job_title"],
            email=lead["email"],
            company=lead["company"],
            custom_fields=lead["custom_fields"],
            source_channel="manual",
            status="New",
            created_at=NOW,
            updated_at=NOW,
            last_activity_at=NOW,
            score=42,
            grade="warm",
            score_breakdown=[{"factor": "fit.x", "label": "X", "points": 10.0}] * 5,
        )
        occ = {t: [[ts, f"ev:{k}"] for k, ts in enumerate(v)] for t, v in inp.occurrences.items()}
        eng = EngagementItem(f"T#bench#L#{lead['lead_id']}", "ENGAGEMENT", occ=occ, counts={}, version=1)
        raws.append((item.serialize(), eng.serialize()))
    t = time.perf_counter()
    for lead_raw, eng_raw in raws:
        LeadItem.from_raw_data(lead_raw).attribute_values  # noqa: B018
        EngagementItem.from_raw_data(eng_raw)
    return len(raws) / (time.perf_counter() - t)


def rules_plus_model() -> str:
    try:
        from leadtide.ml import predictor  # noqa: F401
    except ImportError:
        return "not measured: leadtide.ml is not importable here"
    return (
        "not measured: leadtide.ml's predictor reads its champion from the model registry and S3, so it "
        "has no offline form to time here; add the ML benchmark's per-lead predict() time to the CPU line"
    )


def cost_model(cpu_us_changed: float, cpu_us_unchanged: float, decode_us: float) -> dict[str, Any]:
    leads = 1_000_000
    pages = leads // PAGE_SIZE
    changed = int(leads * CHANGED_SHARE)
    cpu_us = CHANGED_SHARE * cpu_us_changed + (1 - CHANGED_SHARE) * cpu_us_unchanged + decode_us
    cpu_s_page = cpu_us * PAGE_SIZE / 1e6
    batch_gets = 2 * -(-PAGE_SIZE // 100)
    writes_page = PAGE_SIZE * CHANGED_SHARE
    io_s_page = (
        batch_gets * BATCH_GET_MS + writes_page * TRANSACT_MS + -(-writes_page // 10) * PUT_EVENTS_MS
    ) / 1000
    io_threaded = (batch_gets * BATCH_GET_MS + writes_page / WRITE_THREADS * TRANSACT_MS) / 1000
    page_s = cpu_s_page + io_s_page
    page_s_threaded = cpu_s_page + io_threaded
    gb_s = pages * page_s * MEMORY_GB
    # reads: fan-out scan of the sparse by_created index (ALL projection: whole profiles), eventually
    # consistent (0.5 RRU per 4 KB); BatchGetItem of profile + engagement per lead (0.5 RRU each).
    scan_rru = leads * LEAD_ITEM_KB / 4 * 0.5
    get_rru = leads * 2 * 0.5
    # writes per changed lead (transactional = 2x): profile update + history put, plus the three ALL-projected
    # GSIs of the profile (score_sk moves on by_score: delete + put).
    wru_per_changed = 2 * (-(-LEAD_ITEM_KB // 1)) + 2 * (-(-HISTORY_KB // 1)) + 2 * 2 + 2 * 2
    wru = changed * wru_per_changed
    events = changed * 1.1  # score_changed, sometimes grade_changed too
    sqs_requests = pages / 10 * 3  # send batch + receive + delete batch, 10 messages each
    cost = {
        "lambda": gb_s * LAMBDA_GB_S + (pages / 10) * LAMBDA_REQUEST,
        "dynamodb_reads": (scan_rru + get_rru) * DDB_RRU,
        "dynamodb_writes": wru * DDB_WRU,
        "eventbridge": events * EVENTS_PUT,
        "sqs": sqs_requests * SQS_REQUEST,
    }
    scan_s = leads * LEAD_ITEM_KB / 1024 * 0.04  # ~40 ms per 1 MB scan page, sequential
    return {
        "cpu_us": cpu_us,
        "page_s": page_s,
        "page_s_threaded": page_s_threaded,
        "gb_s": gb_s,
        "wru_per_changed": wru_per_changed,
        "cost": cost,
        "total": sum(cost.values()),
        "scan_s": scan_s,
        "pages": pages,
        "wall_20": pages * page_s / 20 + scan_s,
        "wall_20_threaded": pages * page_s_threaded / 20 + scan_s,
    }


def render(
    rules: float, first: float, steady: float, decode: float, model: dict[str, Any], ml: str, ref_ms: float
) -> str:
    c = model["cost"]
    wall, wall_threaded = model["wall_20"] / 60, model["wall_20_threaded"] / 60
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    slowdown = max(ref_ms / 60.0, 1.0)
    verdict = (
        f"The rules engine alone meets the 50,000 leads/s target ({rules:,.0f} measured)."
        if rules >= 50_000
        else f"The rules engine alone measured {rules:,.0f} leads/s here, below the 50,000 target on this "
        f"contended machine (~{rules * slowdown:,.0f} leads/s scaled to an idle core: an estimate, not a measurement)."
    )
    return f"""{MARK_START}
## Scoring: batch re-scoring throughput and the nightly 1M-lead model

`python tests/benchmarks/bench_scoring.py` — one core, synthetic leads scored with the `b2b_saas` template
(7 fit rules, 8 behaviour rules, 0-40 behaviour occurrences per lead over 60 days).

| measure | leads/s per core | µs per lead |
|---|---:|---:|
| rules engine only (`CompiledModel.score`) | {rules:,.0f} | {1e6 / rules:.1f} |
| page path, every lead changed (breakdown, history, events built) | {first:,.0f} | {1e6 / first:.1f} |
| page path, nothing changed (steady state, no writes) | {steady:,.0f} | {1e6 / steady:.1f} |
| decoding profile + engagement items (PynamoDB `from_raw_data`) | {decode:,.0f} | {1e6 / decode:.1f} |
| rules + predictive model | {ml} | |

{verdict} Machine state during the run: load average {load:.1f} on {cpus} CPU(s); a reference loop of
1M empty Python function calls took {ref_ms:.0f} ms (about 50-70 ms on an idle modern core), so these figures
are roughly {slowdown:.0f}x below what one idle core gives. The full page path (everything but the network) is
what a worker actually spends per lead.

**Nightly model, 1,000,000 leads** (assumptions, not measurements: {CHANGED_SHARE:.0%} of leads change score
or grade; BatchGetItem {BATCH_GET_MS:.0f} ms per 100 keys, TransactWriteItems {TRANSACT_MS:.0f} ms, PutEvents
{PUT_EVENTS_MS:.0f} ms; items {LEAD_ITEM_KB} KB profile, {ENGAGEMENT_KB} KB engagement, {HISTORY_KB} KB history;
Scoring worker at {MEMORY_GB} GB = one vCPU; prices us-east-1 on-demand 2025: Lambda $0.0000166667/GB-s,
DynamoDB $0.125/M read units and $0.625/M write units, SQS $0.40/M requests, EventBridge $1.00/M events):

- CPU per lead (mix of changed/unchanged + decoding): {model["cpu_us"]:.1f} µs; per page of {PAGE_SIZE}:
  {model["page_s"]:.2f} s with sequential writes ({model["page_s_threaded"]:.2f} s if a page's
  TransactWriteItems ran {WRITE_THREADS} at a time — not implemented yet); {model["pages"]:,} pages.
- Fan-out: a scan of the sparse `leads_by_created` index, ~{model["scan_s"]:.0f} s sequential, inside the
  900 s limit up to ~10M leads (beyond that, a parallel scan).
- Wall time with 20 concurrent workers: ~{wall:.0f} min (~{wall_threaded:.0f} min with threaded writes):
  the night is long enough by two orders of magnitude; the network, not the CPU, bounds it.
- Cost per night: Lambda ${c["lambda"]:.2f} ({model["gb_s"]:,.0f} GB-s), DynamoDB reads ${c["dynamodb_reads"]:.2f},
  writes ${c["dynamodb_writes"]:.2f} ({model["wru_per_changed"]:.0f} write units per changed lead: two-item
  transaction at 2x, plus the three ALL-projected lead indexes), EventBridge ${c["eventbridge"]:.2f},
  SQS ${c["sqs"]:.4f} — **${model["total"]:.2f} per night**, ~${model["total"] * 30:.0f} a month. Writes dominate:
  writing only changed leads is the lever (and KEYS_ONLY projections on the lead indexes would be the next).
{MARK_END}"""


def write_section(path: Path, section: str) -> None:
    """Replace (or append) the section between the markers in ``path``."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        _, tail = rest.split(MARK_END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def reference_loop_ms() -> float:
    """Milliseconds for 1M empty Python function calls (a calibration of this machine's state)."""

    def f(x: int) -> int:
        return x

    t = time.perf_counter()
    for i in range(1_000_000):
        f(i)
    return (time.perf_counter() - t) * 1000


def main() -> None:
    """``python tests/benchmarks/bench_scoring.py [--leads N] [--write docs/benchmarks.md]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--write", type=Path, help="update this markdown file (docs/benchmarks.md)")
    args = parser.parse_args()
    ref_ms = reference_loop_ms()
    rules = bench_rules(args.leads)
    first, steady, saves = bench_page_path(args.leads)
    assert saves == args.leads, saves  # first pass wrote everyone, second pass nothing
    decode = bench_decode(args.leads)
    model = cost_model(1e6 / first, 1e6 / steady, 1e6 / decode)
    section = render(rules, first, steady, decode, model, rules_plus_model(), ref_ms)
    print(section)
    if args.write:
        write_section(args.write, section)


if __name__ == "__main__":
    main()
