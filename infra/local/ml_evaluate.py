"""``leadtide model evaluate``: print (and optionally write) the predictive-scoring benchmark.

The work is in :mod:`leadtide.ml.benchmark`; this module only resolves paths and prints.
Exit status: 0 on success, 2 when the data folder is missing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"


def main(dataset: str, data_dir: Path | None, write: Path | None, *, throughput: bool = True) -> int:
    """Evaluate ``dataset`` (or ``all``) found in ``data_dir``; write the markdown section to ``write``."""
    from leadtide.ml import benchmark
    from leadtide.ml.datasets import DATASETS

    folder = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    if not folder.is_dir():
        print(f"leadtide model evaluate: data folder {folder} not found", file=sys.stderr)
        return 2
    names = list(DATASETS) if dataset == "all" else [dataset]
    results = []
    for name in names:
        started = time.perf_counter()
        print(f"{name}: training and evaluating...", file=sys.stderr, flush=True)
        results.extend(benchmark.run([name], folder, throughput=throughput))
        print(f"{name}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    section = benchmark.render_markdown(results)
    print(section)
    if write:
        benchmark.write_section(Path(write), section)
        print(f"wrote the bench:ml section of {write}", file=sys.stderr)
    return 0
