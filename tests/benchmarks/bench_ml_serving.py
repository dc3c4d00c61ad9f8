"""Predictive-scoring serving benchmarks (``make bench``): the measured inputs of the nightly recalculation's
time and cost model.

Measured in one run on this machine (the figures are single-core: ``OMP_NUM_THREADS=1`` is set before
numpy/scikit-learn load, so leads/s is per core):
- predictor throughput: a champion trained on X Education leads (mapped onto lead fields, 2,000 rows)
  scores a batch of 10,000 open leads, probability only and probability + top-3 factors each way
  (vectorised occlusion explanations), leads/s per core;
- the cold load of the model artifact: ``model.tar.gz`` read from S3 (moto, in process), unpickled and
  compiled for serving (``leadtide.ml.compiled``, with its check against the pipeline), median over runs,
  and its size.

Writes the section between the ``<!-- bench:ml-serving -->`` markers of docs/benchmarks.md with --write.
Skips (exit 0) when ../shared/data/xeducation_leads.csv is absent.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # per-core figures; must precede numpy's import

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
MARK_START, MARK_END = "<!-- bench:ml-serving -->", "<!-- /bench:ml-serving -->"
sys.path.insert(0, str(REPO))
from tests.benchmarks.sections import write_section  # noqa: E402


def _train(rows: int):
    from leadtide.ml.features import lead_feature_spec
    from leadtide.ml.samples import XEDU_CUSTOM_FIELD_TYPES, xeducation_leads
    from leadtide.ml.serving import package
    from leadtide.ml.train_job import training_set, without_empty_fields
    from leadtide.ml.training import train_model

    leads = list(xeducation_leads(DATA, "bench", limit=rows))
    spec = lead_feature_spec(XEDU_CUSTOM_FIELD_TYPES)
    records, labels, stamps = training_set(leads, XEDU_CUSTOM_FIELD_TYPES)
    spec = without_empty_fields(spec, records)
    started = time.perf_counter()
    trained = train_model(records, labels, spec, timestamps=stamps)
    return package(trained), time.perf_counter() - started, len(spec.columns())


def _open_leads(n: int) -> list[dict]:
    from leadtide.ml.samples import xeducation_leads

    rows = list(xeducation_leads(DATA, "bench"))
    leads = []
    for i in range(n):
        lead = rows[i % len(rows)].model_dump(mode="json")
        lead["status"] = "New"
        lead["lead_id"] = f"{i:032x}"
        leads.append(lead)
    return leads


def measure(rows: int, batch: int, cold_runs: int) -> dict:
    import boto3
    from moto import mock_aws

    from leadtide.ml.serving import load_serving_model

    artifact, train_seconds, fields = _train(rows)
    leads = _open_leads(batch)
    now = datetime.now(UTC)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench-artifacts")
        s3.put_object(Bucket="bench-artifacts", Key="models/bench/v/model.tar.gz", Body=artifact)
        loads = []
        for _ in range(cold_runs):
            t = time.perf_counter()
            body = s3.get_object(Bucket="bench-artifacts", Key="models/bench/v/model.tar.gz")["Body"].read()
            model = load_serving_model(body)
            loads.append(time.perf_counter() - t)
    if model.scorer is model.pipeline:
        raise SystemExit("the champion was not compiled (leadtide.ml.compiled refused it): see the log")
    model.predict(leads[:100], as_of=now)  # warm-up
    t = time.perf_counter()
    probabilities = model.probabilities(leads, as_of=now)
    proba_seconds = time.perf_counter() - t
    t = time.perf_counter()
    explained = model.predict(leads, as_of=now)
    explain_seconds = time.perf_counter() - t
    assert len(explained) == len(leads) == len(probabilities)
    with_factors = sum(1 for _, up, down in explained if up or down)
    return {
        "rows": rows,
        "fields": fields,
        "batch": batch,
        "train_seconds": train_seconds,
        "artifact_bytes": len(artifact),
        "cold_load_median": statistics.median(loads),
        "cold_load_max": max(loads),
        "cold_runs": cold_runs,
        "proba_rate": batch / proba_seconds,
        "explain_rate": batch / explain_seconds,
        "explain_seconds": explain_seconds,
        "with_factors": with_factors,
    }


def section(r: dict) -> str:
    per_100k = 100_000 / r["explain_rate"]
    return "\n".join(
        [
            MARK_START,
            "## Predictive scoring: serving (`make bench`, tests/benchmarks/bench_ml_serving.py)",
            "",
            f"Measured {time.strftime('%Y-%m-%d')} on this project's machine, one run, one core "
            "(`OMP_NUM_THREADS=1`). Model: the champion trained on "
            f"{r['rows']:,} X Education leads mapped onto lead fields ({r['fields']} fields; training took "
            f"{r['train_seconds']:.1f} s with the full tuning grid), served as the Scoring worker serves it: "
            "compiled (`leadtide.ml.compiled`), the same probabilities as the scikit-learn pipeline.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| batch predict, probability only ({r['batch']:,} leads) | {r['proba_rate']:,.0f} leads/s per core |",
            f"| batch predict + top-3 factors each way ({r['batch']:,} leads) | {r['explain_rate']:,.0f} leads/s "
            f"per core ({r['explain_seconds']:.2f} s) |",
            f"| leads with at least one factor shown | {r['with_factors']:,} of {r['batch']:,} |",
            f"| model.tar.gz size | {r['artifact_bytes'] / 1024:,.0f} KiB |",
            "| cold load: S3 get (moto, in process) + unpickle + compile and check "
            f"| median {r['cold_load_median'] * 1000:,.0f} ms, "
            f"max {r['cold_load_max'] * 1000:,.0f} ms over {r['cold_runs']} runs |",
            "",
            "Nightly recalculation model input: predictions with explanations cost about "
            f"{per_100k:,.1f} s of one core per 100,000 leads, plus one cold load per model version per "
            "Scoring worker process (the predictor caches loaded models; a real S3 GET adds network time "
            "that moto does not have). Batch re-scoring explains only the leads whose probability moved "
            "(or that have no stored explanation, or are on their weekly refresh day); the scoring "
            "benchmark (`bench:scoring`) measures that page path, rules + model, and the explained share. "
            "Not measured here: the DynamoDB reads and writes of re-scoring, which the scoring benchmark "
            "covers.",
            MARK_END,
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="update this markdown file (docs/benchmarks.md)")
    parser.add_argument("--rows", type=int, default=2000, help="training leads (default 2000)")
    parser.add_argument("--batch", type=int, default=10_000, help="leads per predicted batch (default 10000)")
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()
    if not (DATA / "xeducation_leads.csv").exists():
        print(f"skipped: {DATA / 'xeducation_leads.csv'} not found")
        return 0
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    result = measure(args.rows, args.batch, args.cold_runs)
    text = section(result)
    print(text)
    if args.write:
        write_section(args.write, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
