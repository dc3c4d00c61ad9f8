"""``leadtide model train``: predictive scoring end to end on the local stack.

Without ``--starter``: import a sample of X Education rows as closed leads of ``--tenant`` (see
:mod:`leadtide.ml.samples` for the field mapping), ask the API to train (``POST /scoring-models/{id}/train``),
let the Training function run from its queue, show the registry entry with its metrics and the
``model.tar.gz`` in the local S3, then create a few open leads from rows that were held back and print the
predicted conversion probability and top factors for each (as the scoring worker's predictor computes them,
and as ``GET /leads/{id}`` shows them once the scoring service stores them).

With ``--starter``: train the shared starter model from the same file (generic lead fields only) and store it
under ``models/_starter/``; new tenants adopt it with ``POST /scoring-models/{id}/train {"starter": true}``.
The X Education data has no licence, so the starter is trained where the file is, never shipped.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from leadtide.wiring import get_wiring

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _request(stack: Any, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    import requests

    response = requests.request(
        method,
        f"{stack.base_url}{path}",
        json=body,
        headers={"authorization": f"Bearer {token}"},
        timeout=900,
    )
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def seed_leads(leads: list[Any]) -> None:
    """Store leads (no identities, no timeline) and their dashboard counters with BatchWriteItem.

    A bulk shortcut for samples: the repository's one-transaction-per-lead ``create_lead`` is the right
    call for real leads, but moto copies the whole table on every transaction, so seeding thousands of
    leads that way takes minutes locally.
    """
    from collections import Counter

    from leadtide.dal.items import CounterItem, LeadItem, stats_pk

    repo = get_wiring().lead_repository  # binds the item classes to the configured table
    counts: Counter[tuple[str, str]] = Counter()
    with LeadItem.batch_write() as batch:
        for lead in leads:
            batch.save(repo._lead_item(lead))  # type: ignore[attr-defined]
            for key in ("total", f"status#{lead.status}", f"source#{lead.source_channel}"):
                counts[(lead.tenant_id, key)] += 1
    for (tenant, key), value in counts.items():
        CounterItem(stats_pk(tenant), key).update(actions=[CounterItem.value.add(value)])


def import_sample(tenant: str, data_dir: Path, rows: int, open_leads: int) -> tuple[int, list[Any]]:
    """Store the first ``rows`` X Education rows as closed leads, and the next ``open_leads`` as open leads
    (status New); return (closed count, open leads)."""
    from leadtide.ml.samples import xeducation_leads
    from leadtide.models.common import LeadStatus

    leads = list(xeducation_leads(data_dir, tenant, limit=rows + open_leads))
    closed = leads[:rows]
    opened = [lead.model_copy(update={"status": LeadStatus.NEW}) for lead in leads[rows:]]
    seed_leads(closed + opened)
    return len(closed), opened


def run_tenant(stack: Any, tenant: str, data_dir: Path, rows: int, scoring_model_id: str) -> int:
    """Import, train through the API, print the registry entry, then score open leads."""
    from leadtide.settings import get_settings

    token = stack.token(tenant, "admin", "ml-demo")
    print(f"1. Importing {rows} X Education rows as closed leads of {tenant!r} (+5 open leads)")
    closed, opened = import_sample(tenant, data_dir, rows, 5)
    print(f"   {closed} closed leads stored")

    print(f"2. POST /scoring-models/{scoring_model_id}/train")
    status, body = _request(stack, "POST", f"/scoring-models/{scoring_model_id}/train", token, {})
    print(f"   -> {status} {json.dumps(body)}")
    if status != 202:
        return 1
    version = body["model_version"]
    started = time.perf_counter()
    stack.drain(timeout=900)
    print(f"   Training function finished in {time.perf_counter() - started:.1f} s")

    status, entry = _request(stack, "GET", f"/scoring-models/{scoring_model_id}/versions/{version}", token)
    print(f"3. Registry entry {version}: status {entry.get('status')}")
    if entry.get("status") not in ("champion", "ready"):
        print(f"   training failed: {entry.get('error')}", file=sys.stderr)
        return 1
    metrics = entry.get("metrics") or {}
    print(
        "   held-out metrics: "
        + ", ".join(
            f"{k} {metrics.get(k)}" for k in ("roc_auc", "pr_auc", "brier", "ece", "rows", "positives")
        )
    )
    key = entry["artifact_key"]
    data = get_wiring().artifact_store.get(key)
    bucket = get_settings().artifacts_bucket
    print(f"   artifact s3://{bucket}/{key} ({len(data):,} bytes)")

    print("4. Predictions for open leads (champion/challenger predictor)")
    predictor = get_wiring().conversion_predictor
    if predictor is None:
        print("   no predictor (ARTIFACTS_BUCKET unset)", file=sys.stderr)
        return 1
    predictions = predictor.predict(tenant, [lead.model_dump(mode="json") for lead in opened])
    for lead, prediction in zip(opened, predictions, strict=True):
        if prediction is None:
            print(f"   {lead.lead_id}: no prediction")
            continue
        print(
            f"   lead {lead.lead_id[:8]} ({lead.source_channel}, {lead.job_title or '-'}): "
            f"P(convert) = {prediction.probability:.1%}  [model {prediction.model_version}]"
        )
        for factor in prediction.factors_up:
            print(f"      + {factor.label}  ({factor.impact:+.1f} pts)")
        for factor in prediction.factors_down:
            print(f"      - {factor.label}  ({factor.impact:+.1f} pts)")
    return 0


def run_starter(data_dir: Path) -> int:
    """Train and store the starter model; print its registry entry."""
    from leadtide.ml.samples import xeducation_leads

    leads = list(xeducation_leads(data_dir, "_starter"))
    print(f"Training the starter model on {len(leads)} X Education leads (generic lead fields only)...")
    version = get_wiring().training_job.train_starter(
        leads, source="X Education leads (internal use; no licence)"
    )
    print(f"stored {version.artifact_key}")
    print(json.dumps(version.metrics.model_dump() if version.metrics else {}, indent=2))
    return 0


def main(
    *, starter: bool, tenant: str, dataset: str, rows: int, scoring_model_id: str, data_dir: Path | None
) -> int:
    """Entry point of ``leadtide model train`` (exit 0 on success, 1 on failure, 2 on usage errors)."""
    from leadtide_local.stack import LocalStack

    if dataset != "xeducation":
        print("only --dataset xeducation maps onto Leadtide lead fields", file=sys.stderr)
        return 2
    folder = data_dir or DEFAULT_DATA_DIR
    if not (folder / "xeducation_leads.csv").exists():
        print(f"{folder / 'xeducation_leads.csv'} not found (see ../shared/data/SOURCES.md)", file=sys.stderr)
        return 2
    with LocalStack.start(port=0, background_workers=False) as stack:
        print(f"Local stack: API {stack.base_url}, moto {stack.moto_endpoint}\n")
        if starter:
            return run_starter(folder)
        return run_tenant(stack, tenant, folder, rows, scoring_model_id)
