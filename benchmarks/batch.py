"""Batch paths: `promofilter strip FILE.jsonl` with one job, with --jobs N, and the same records as
a Parquet dataset on a local Dask cluster of N workers, in the same run.

    python benchmarks/batch.py [--mb 20] [--jobs 2] [--no-dask]

Writes a seeded JSONL of about --mb MB with the training generator, cleans it with the command
line (a fresh process each time, model loading included), checks the outputs are identical, and
prints MB/s, records/s, the speed-up ratios and each run's peak RSS. The one-job run is also
timed with --batch (batch mode's counting pass is the difference). The machine is shared and
noisy: read the ratios, not the absolute figures.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from promofilter.corpus import generate, load_corpus
from startup import as_installed  # (this script's directory is on the path)

CHILD = """
import resource, sys, time
from promofilter.cli import main
t = time.perf_counter()
try:
    main()
except SystemExit as e:
    code = e.code
print(f"{time.perf_counter() - t:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
"""


def run(args: list[str], env: dict) -> tuple[float, float]:
    """Seconds and peak RSS (MB, the parent process) of one CLI run."""
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True, env=env)
    seconds, rss_kb = proc.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(rss_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask run")
    args = parser.parse_args()
    corpus = load_corpus()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.jsonl")
        size, n, seed = 0, 0, 0
        with open(src, "w", encoding="utf-8") as f:
            while size < args.mb * 1e6:
                for doc in generate(corpus, 2000, seed=seed):
                    line = json.dumps({"id": n, "text": doc["text"]}, ensure_ascii=False) + "\n"
                    f.write(line)
                    size += len(line.encode())
                    n += 1
                seed += 1
        print(f"input: {n} records, {size / 1e6:.1f} MB of JSONL")
        # (the CLI's modules are imported while it runs: with bytecode, as an installed package)
        env = as_installed(dict(os.environ), os.path.join(tmp, "bytecode"))
        one, many = os.path.join(tmp, "one.jsonl"), os.path.join(tmp, "many.jsonl")
        t1, rss1 = run(["strip", src, "-o", one], env)
        tn, rssn = run(["strip", src, "-o", many, "--jobs", str(args.jobs)], env)
        with open(one, "rb") as a, open(many, "rb") as b:
            same = a.read() == b.read()
        print(f"1 job    : {size / 1e6 / t1:6.2f} MB/s {n / t1:8.0f} records/s  peak RSS {rss1:5.0f} MB")
        print(f"{args.jobs} jobs   : {size / 1e6 / tn:6.2f} MB/s {n / tn:8.0f} records/s  "
              f"peak RSS {rssn:5.0f} MB (parent; each worker holds its own model)")
        print(f"speed-up --jobs {args.jobs} / 1 job: {t1 / tn:.2f}x   identical output: {same}")
        batch = os.path.join(tmp, "batch.jsonl")
        tb, rssb = run(["strip", src, "-o", batch, "--batch"], env)
        print(f"1 job --batch: {size / 1e6 / tb:6.2f} MB/s  peak RSS {rssb:5.0f} MB; batch mode costs "
              f"{tb / t1:.2f}x the time of scoring each record alone")
        if not args.no_dask:
            dask_run(tmp, src, one, size, n, args.jobs, tn, env)


def dask_run(tmp: str, src: str, reference: str, size: int, n: int, jobs: int, t_jobs: float, env: dict) -> None:
    """The records as an 8-part Parquet dataset, cleaned by `strip --dask` on a LocalCluster."""
    try:
        import pandas as pd
        from distributed import LocalCluster
    except ImportError:
        print("dask: not installed (pip install 'promofilter[dask]'), skipped")
        return
    records = pd.read_json(src, lines=True, dtype={"text": object})
    parts = os.path.join(tmp, "parts")
    os.mkdir(parts)
    for i, chunk in enumerate(range(0, len(records), -(-len(records) // 8))):
        records.iloc[chunk:chunk + -(-len(records) // 8)].to_parquet(os.path.join(parts, f"part-{i}.parquet"), index=False)
    out = os.path.join(tmp, "dask-out")
    with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        td, rssd = run(["strip", parts, "--dask", cluster.scheduler_address, "-o", out], env)
    got = pd.read_parquet(out).sort_values("id")["text"].tolist()
    expected = pd.read_json(reference, lines=True, dtype={"text": object}).sort_values("id")["text"].tolist()
    print(f"dask {jobs} workers: {size / 1e6 / td:6.2f} MB/s {n / td:8.0f} records/s (model loading and the "
          f"counting pass included); {t_jobs / td:.2f}x the speed of --jobs {jobs}; same texts as 1 job: {got == expected}")


if __name__ == "__main__":
    main()
