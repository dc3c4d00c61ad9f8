"""Scoring benchmarks (``make bench``): batch re-scoring throughput per core and the modelled nightly cost.

One run, one machine, one core (no threads), CPU seconds (`time.process_time`, so other load on the machine
slows the figures less than wall time would). Measured:

- rules engine only: ``CompiledModel.score`` of the ``b2b_saas`` template over synthetic leads (varied
  titles, email domains, company sizes, 0-40 behaviour occurrences each over 60 days), leads/s;
- page path: ``ScoringService.rescore_page`` in pages of 250 over an in-memory store (model selection,
  scoring, breakdown dicts, change detection, history entries, event objects): a first pass where every
  lead changes (all written) and a second where nothing changed (no writes) — the nightly steady state is
  in between;
- item decoding: DynamoDB-JSON profile + engagement items as BatchGetItem returns them, decoded by the
  dal's fast decoder (``leadtide.dal.rawdecode``, what ``load_for_scoring`` runs) and, for comparison, by
  PynamoDB's ``from_raw_data`` (the CPU the DynamoDB path adds per lead);
- rules + predictive model (offline): a champion trained with the project's training code on 2,000 X
  Education leads (../shared/data; skipped when absent) and served by the real
  ``RegistryConversionPredictor`` from an in-memory registry and artifact store; X Education open leads
  carrying synthetic behaviour, scored in pages of 250: (a) the engine - rules for the page + one
  vectorised prediction for the page (the compiled model of ``leadtide.ml.compiled``, as served; the
  scikit-learn pipeline's ``predict_proba`` is timed beside it), no explanations; (b)
  ``ScoringService.rescore_page`` with the predictor, night 1 (no stored explanation: every lead
  explained) and night 2 (every timestamp one day older: explanations only for leads whose probability
  moved by more than 2 points or on their refresh day; the explained fraction is reported). CPU seconds
  (``time.process_time``), one run.

The nightly 1M-lead time and cost is a *model* from those per-lead CPU times plus stated assumptions for
AWS latencies and item sizes (us-east-1 on-demand prices, 2025). Writes the section between the
``<!-- bench:scoring -->`` markers of docs/benchmarks.md when ``--write`` is given.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # per-core figures; must precede numpy's import

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "shared"), str(REPO)]

from leadtide.models.scoring import ScoringModel  # noqa: E402
from leadtide.scoring.ports import ScoringInput, ScoringStore  # noqa: E402
from leadtide.scoring.rules import CompiledModel  # noqa: E402
from leadtide.scoring.service import PAGE_SIZE, ScoringService  # noqa: E402
from leadtide.scoring.templates import template_model  # noqa: E402

MARK_START, MARK_END = "<!-- bench:scoring -->", "<!-- /bench:scoring -->"
from tests.benchmarks.sections import write_section  # noqa: E402

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
        t = time.process_time()
        for inp in inputs:
            model.score(inp.lead, inp.occurrences, now_ts)
        runs.append(time.process_time() - t)
    return n / statistics.median(runs)


def stored_model(spec: dict[str, Any]) -> ScoringModel:
    """The tenant's active default scoring model ``spec`` as the store returns it."""
    return ScoringModel(
        **spec,
        model_id="b" * 32,
        tenant_id="bench",
        active=True,
        is_default=True,
        created_at=NOW,
        updated_at=NOW,
    )


def bench_page_path(n: int) -> tuple[float, float, int]:
    model = stored_model(template_model("b2b_saas").model_dump())
    inputs = synthetic_inputs(n)
    store = MemoryStore(inputs, model)
    service = ScoringService(None, NullEvents(), store=store, clock=lambda: NOW)  # type: ignore[arg-type]
    ids = list(inputs)
    pages = [ids[i : i + PAGE_SIZE] for i in range(0, len(ids), PAGE_SIZE)]
    timings = []
    for _ in range(2):
        t = time.process_time()
        for page in pages:
            service.rescore_page("bench", page, "nightly decay")
        timings.append(time.process_time() - t)
    return n / timings[0], n / timings[1], store.saves


def bench_decode(n: int) -> tuple[float, float]:
    """(fast decoder leads/s, PynamoDB from_raw_data leads/s) for profile + engagement items."""
    from leadtide.dal.items import EngagementItem, LeadItem
    from leadtide.dal.rawdecode import ItemDecoder
    from leadtide.dal.scoring_models import engagement_values_to_input, profile_values

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
    t = time.process_time()
    for lead_raw, eng_raw in raws:
        LeadItem.from_raw_data(lead_raw).attribute_values  # noqa: B018
        EngagementItem.from_raw_data(eng_raw)
    pynamodb = len(raws) / (time.process_time() - t)
    leads, engagement = ItemDecoder(LeadItem), ItemDecoder(EngagementItem)
    t = time.process_time()
    for lead_raw, eng_raw in raws:
        engagement_values_to_input(profile_values(leads.decode(lead_raw)), engagement.decode(eng_raw))
    return len(raws) / (time.process_time() - t), pynamodb


class _Registry:
    """The two reads the predictor makes of the model registry (one champion, no challenger)."""

    def __init__(self, version: str):
        from leadtide.models.ml import ModelPointer

        self.pointer = ModelPointer(champion=version)

    def get_pointer(self, tenant_id):
        return self.pointer

    def get_version(self, tenant_id, model_version):
        return SimpleNamespace(artifact_key=f"models/{tenant_id}/{model_version}/model.tar.gz")


class _Artifacts:
    def __init__(self, data: bytes):
        self.data = data

    def get(self, key):
        return self.data


def _shift_one_day(inputs: dict[str, ScoringInput]) -> None:
    """Make every timestamp one day older: the same leads, scored on the next night."""
    day = timedelta(days=1)
    for inp in inputs.values():
        for name in ("created_at", "last_activity_at", "updated_at"):
            if isinstance(inp.lead.get(name), datetime):
                inp.lead[name] -= day
        inp.occurrences = {t: [ts - 86400.0 for ts in v] for t, v in inp.occurrences.items()}


def rules_plus_model(n: int) -> dict[str, Any] | str:
    """The offline rules + predictive model measurement (see the module docstring), or why it was skipped."""
    data = REPO.parent / "shared" / "data"
    if not (data / "xeducation_leads.csv").exists():
        return f"not measured: {data / 'xeducation_leads.csv'} is absent"
    from leadtide.ml.features import lead_feature_spec, records_to_matrix
    from leadtide.ml.predictor import EXPLAIN_REFRESH_DAYS, EXPLAIN_THRESHOLD, RegistryConversionPredictor
    from leadtide.ml.samples import XEDU_CUSTOM_FIELD_TYPES, xeducation_leads
    from leadtide.ml.serving import load_serving_model, package
    from leadtide.ml.train_job import training_set, without_empty_fields
    from leadtide.ml.training import train_model

    closed = list(xeducation_leads(data, "bench", limit=2000))
    spec = lead_feature_spec(XEDU_CUSTOM_FIELD_TYPES)
    records, labels, stamps = training_set(closed, XEDU_CUSTOM_FIELD_TYPES)
    spec = without_empty_fields(spec, records)
    trained = train_model(records, labels, spec, timestamps=stamps)
    artifact = package(trained)
    version = "bench-v1"

    rows = list(xeducation_leads(data, "bench"))
    synthetic = synthetic_inputs(n)
    inputs: dict[str, ScoringInput] = {}
    for i, (lead_id, syn) in enumerate(synthetic.items()):
        lead = rows[i % len(rows)].model_dump()
        lead.update(lead_id=lead_id, status="New", score_breakdown=[], tags=lead.get("tags") or [])
        lead["created_at"] = NOW - timedelta(days=1 + i % 60)
        lead["last_activity_at"] = NOW - timedelta(days=i % 30)
        lead["custom_fields"] = {**(lead.get("custom_fields") or {}), **syn.lead["custom_fields"]}
        lead["email"] = syn.lead["email"]
        lead["job_title"] = lead.get("job_title") or syn.lead["job_title"]
        inputs[lead_id] = ScoringInput(lead=lead, occurrences=syn.occurrences, counts=syn.counts)
    spec_model = template_model("b2b_saas")
    compiled = CompiledModel(spec_model)
    serving = load_serving_model(artifact)
    ids = list(inputs)
    pages = [ids[i : i + PAGE_SIZE] for i in range(0, len(ids), PAGE_SIZE)]
    now_ts = NOW.timestamp()

    # (a) the engine: rules + one vectorised predict_proba per page, no explanations
    serving.probabilities([inputs[i].lead for i in pages[0]], as_of=NOW)  # warm-up
    t = time.process_time()
    matrices = [
        records_to_matrix(serving.records([inputs[i].lead for i in page], NOW), serving.spec)
        for page in pages
    ]
    features = time.process_time() - t
    t = time.process_time()
    for x in matrices:
        serving.pipeline.predict_proba(x)
    proba = time.process_time() - t
    t = time.process_time()
    for x in matrices:
        serving.scorer.predict_proba(x)
    compiled_proba = time.process_time() - t
    if serving.scorer is serving.pipeline:
        raise SystemExit("the champion was not compiled (leadtide.ml.compiled refused it): see the log")
    t = time.process_time()
    for page in pages:
        scored = [compiled.score(inputs[i].lead, inputs[i].occurrences, now_ts) for i in page]
        p = serving.probabilities([inputs[i].lead for i in page], as_of=NOW)
        for r, prob in zip(scored, p, strict=True):
            compiled.blend(r, float(prob))
    engine = time.process_time() - t
    t = time.process_time()
    for page in pages:
        for i in page:
            compiled.score(inputs[i].lead, inputs[i].occurrences, now_ts)
    rules_only = time.process_time() - t

    # (b) the page path with the predictor: night 1 (nothing stored), night 2 (one day later)
    scoring = stored_model({**spec_model.model_dump(), "predictive": {"enabled": True, "weight": 0.3}})
    store = MemoryStore(inputs, scoring)
    predictor = RegistryConversionPredictor(_Registry(version), _Artifacts(artifact))
    predictor.model("bench", version)  # cold load outside the timing
    service = ScoringService(None, NullEvents(), store=store, predictor=predictor, clock=lambda: NOW)  # type: ignore[arg-type]
    nights = []
    for night in (1, 2):
        if night == 2:
            _shift_one_day(inputs)
        saves, explained, kept = store.saves, predictor.explained, predictor.explanations_kept
        t = time.process_time()
        for page in pages:
            service.rescore_page("bench", page, "nightly decay")
        cpu = time.process_time() - t
        nights.append(
            {
                "cpu": cpu,
                "rate": n / cpu,
                "written": (store.saves - saves) / n,
                "explained": predictor.explained - explained,
                "kept": predictor.explanations_kept - kept,
            }
        )
    return {
        "leads": n,
        "fields": len(spec.columns()),
        "engine_cpu": engine,
        "engine_rate": n / engine,
        "rules_cpu": rules_only,
        "predict_us": (engine - rules_only) / n * 1e6,
        "features_us": features / n * 1e6,
        "proba_us": proba / n * 1e6,
        "compiled_proba_us": compiled_proba / n * 1e6,
        "nights": nights,
        "threshold": EXPLAIN_THRESHOLD,
        "refresh_days": EXPLAIN_REFRESH_DAYS,
    }


def cost_model(cpu_us: float, decode_us: float, changed_share: float) -> dict[str, Any]:
    """The nightly 1M-lead model from the per-lead CPU of the page path (µs, everything but the network),
    the decoding CPU (µs) and the share of leads written."""
    leads = 1_000_000
    pages = leads // PAGE_SIZE
    changed = int(leads * changed_share)
    cpu_us = cpu_us + decode_us
    cpu_s_page = cpu_us * PAGE_SIZE / 1e6
    batch_gets = 2 * -(-PAGE_SIZE // 100)
    writes_page = PAGE_SIZE * changed_share
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
        "cpu_s_page": cpu_s_page,
        "changed_share": changed_share,
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
    rules: float,
    first: float,
    steady: float,
    decode: tuple[float, float],
    model: dict[str, Any],
    ml: dict[str, Any] | str,
    ref_ms: float,
) -> str:
    c = model["cost"]
    wall, wall_threaded = model["wall_20"] / 60, model["wall_20_threaded"] / 60
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    slowdown = max(ref_ms / 60.0, 1.0)
    slow_text = (
        f", so these figures are roughly {slowdown:.1f}x below an idle core" if slowdown >= 1.3 else ""
    )
    fast, pynamodb = decode
    rows = [
        ("rules engine only (`CompiledModel.score`)", rules),
        ("page path, every lead changed (breakdown, history, events built)", first),
        ("page path, nothing changed (steady state, no writes)", steady),
        ("decoding profile + engagement items, dal fast decoder (`leadtide.dal.rawdecode`)", fast),
        ("decoding the same items with PynamoDB `from_raw_data` (the previous path)", pynamodb),
    ]
    if isinstance(ml, dict):
        n1, n2 = ml["nights"]
        share = n2["explained"] / ml["leads"]
        rows += [
            ("**rules + model engine**: rules + one vectorised prediction per page of 250 (compiled model), "
             "no explanations",
             ml["engine_rate"]),
            ("page path, rules + model, night 1 (no stored explanation: every lead explained)", n1["rate"]),
            (f"page path, rules + model, night 2 ({share:.1%} of leads explained afresh)", n2["rate"]),
            ("page path, rules + model, night 2, plus decoding", 1e6 / (1e6 / n2["rate"] + 1e6 / fast)),
        ]  # fmt: skip
    table = "\n".join(f"| {name} | {rate:,.0f} | {1e6 / rate:.1f} |" for name, rate in rows)
    if isinstance(ml, dict):
        n1, n2 = ml["nights"]
        engine = ml["engine_rate"]
        met = "meets" if engine >= 50_000 else "does not meet"
        ml_text = f"""**Rules + predictive model** ({ml["leads"]:,} leads, CPU seconds of one run; model: the champion
trained by the project's training code on 2,000 X Education leads, {ml["fields"]} fields, served by
`RegistryConversionPredictor`; leads: X Education profiles with the synthetic behaviour above; scoring
model `b2b_saas` with predictive weight 0.3). The engine (rules + batch prediction) runs {engine:,.0f} leads/s
per core ({ml["engine_cpu"]:.2f} CPU s): it **{met} the 50,000 leads/s aim**. Per lead, the rules take
{ml["rules_cpu"] / ml["leads"] * 1e6:.1f} µs and the prediction (feature records included) {ml["predict_us"]:.1f} µs.
Measured apart: building each lead's feature record in Python (`lead_record` + `records_to_matrix`)
{ml["features_us"]:.1f} µs per lead; the probability on a 250-row page {ml["compiled_proba_us"]:.1f} µs per lead
with the compiled model the predictor serves (`leadtide.ml.compiled`: preprocessing folded into lookup
tables, the fitted trees called directly), against {ml["proba_us"]:.1f} µs through the scikit-learn pipeline's
`predict_proba` (input validation in every `ColumnTransformer` step of both members and of the
estimator's internal category encoder, which a 250-lead page does not amortise); both give the same
probabilities (checked at load, to 1e-9).
Explanations are the dominant cost when computed: (fields + 1) predictions per lead;
night 1 explained {n1["explained"]:,} leads ({n1["cpu"]:.1f} CPU s), night 2 explained {n2["explained"]:,}
({n2["explained"] / ml["leads"]:.1%}: probability moved by more than {ml["threshold"] * 100:g} points, or the lead's
refresh day, one in {ml["refresh_days"]}) and kept {n2["kept"]:,} stored explanations ({n2["cpu"]:.1f} CPU s).
Night 2 wrote {n2["written"]:.0%} of the leads (score, grade or the stored 4-decimal probability changed; night 1
wrote {n1["written"]:.0%}): the cost model below uses this measured share instead of an assumed one."""
    else:
        ml_text = f"**Rules + predictive model**: {ml}."
    basis = (
        "rules + model page path, night 2 (measured above)"
        if isinstance(ml, dict)
        else f"rules only, {CHANGED_SHARE:.0%} of leads changed (assumption)"
    )
    return f"""{MARK_START}
## Scoring: batch re-scoring throughput and the nightly 1M-lead model

`python tests/benchmarks/bench_scoring.py` — one run, one core (`OMP_NUM_THREADS=1`), CPU seconds
(`time.process_time`); synthetic leads scored with the `b2b_saas` template (7 fit rules, 8 behaviour rules,
0-40 behaviour occurrences per lead over 60 days).

| measure | leads/s per core | µs per lead |
|---|---:|---:|
{table}

{ml_text}

Machine state during the run: load average {load:.1f} on {cpus} CPU(s); a reference loop of 1M empty Python
function calls took {ref_ms:.0f} ms (about 50-70 ms on an idle modern core){slow_text}.
The full page path (everything but the network) is what a
worker actually spends per lead.

**Nightly model, 1,000,000 leads** (CPU basis: {basis}; {model["changed_share"]:.0%} of leads written;
assumptions, not measurements: BatchGetItem {BATCH_GET_MS:.0f} ms per 100 keys, TransactWriteItems
{TRANSACT_MS:.0f} ms, PutEvents {PUT_EVENTS_MS:.0f} ms; items {LEAD_ITEM_KB} KB profile, {ENGAGEMENT_KB} KB
engagement, {HISTORY_KB} KB history; Scoring worker at {MEMORY_GB} GB = one vCPU; prices us-east-1 on-demand
2025: Lambda $0.0000166667/GB-s, DynamoDB $0.125/M read units and $0.625/M write units, SQS $0.40/M requests,
EventBridge $1.00/M events):

- CPU per lead (page path + decoding): {model["cpu_us"]:.1f} µs, {model["cpu_s_page"]:.2f} s per page of
  {PAGE_SIZE}; with the network, {model["page_s"]:.2f} s per page with sequential writes
  ({model["page_s_threaded"]:.2f} s if a page's TransactWriteItems ran {WRITE_THREADS} at a time — not
  implemented yet); {model["pages"]:,} pages.
- Fan-out: a scan of the sparse `leads_by_created` index, ~{model["scan_s"]:.0f} s sequential, inside the
  900 s limit up to ~10M leads (beyond that, a parallel scan).
- Wall time with 20 concurrent workers: ~{wall:.0f} min (~{wall_threaded:.0f} min with threaded writes):
  well inside the night; the network (sequential writes), then the CPU, bound it.
- Cost per night: Lambda ${c["lambda"]:.2f} ({model["gb_s"]:,.0f} GB-s), DynamoDB reads ${c["dynamodb_reads"]:.2f},
  writes ${c["dynamodb_writes"]:.2f} ({model["wru_per_changed"]:.0f} write units per written lead: two-item
  transaction at 2x, plus the three ALL-projected lead indexes), EventBridge ${c["eventbridge"]:.2f},
  SQS ${c["sqs"]:.4f} — **${model["total"]:.2f} per night**, ~${model["total"] * 30:.0f} a month. Writes dominate:
  writing only leads whose score, grade or probability visibly changed is the lever (and KEYS_ONLY
  projections on the lead indexes would be the next).
{MARK_END}"""


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
    ml = rules_plus_model(args.leads)
    if isinstance(ml, dict):
        night2 = ml["nights"][1]
        model = cost_model(1e6 / night2["rate"], 1e6 / decode[0], night2["written"])
    else:
        cpu = CHANGED_SHARE * 1e6 / first + (1 - CHANGED_SHARE) * 1e6 / steady
        model = cost_model(cpu, 1e6 / decode[0], CHANGED_SHARE)
    section = render(rules, first, steady, decode, model, ml, ref_ms)
    print(section)
    if args.write:
        write_section(args.write, section)


if __name__ == "__main__":
    main()
