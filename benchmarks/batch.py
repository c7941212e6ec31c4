"""Batch paths: `promofilter strip FILE.jsonl` with one job and with --jobs N, in the same run.

    python benchmarks/batch.py [--mb 20] [--jobs 2]

Writes a seeded JSONL of about --mb MB with the training generator, cleans it with the command
line (a fresh process each time, model loading included), checks both outputs are identical, and
prints MB/s, records/s, the speed-up ratio and each run's peak RSS. The machine is shared and
noisy: read the ratio, not the absolute figures.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from promofilter.corpus import generate, load_corpus

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


def run(args: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB, the parent process) of one CLI run."""
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True)
    seconds, rss_kb = proc.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(rss_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=2)
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
        one, many = os.path.join(tmp, "one.jsonl"), os.path.join(tmp, "many.jsonl")
        t1, rss1 = run(["strip", src, "-o", one])
        tn, rssn = run(["strip", src, "-o", many, "--jobs", str(args.jobs)])
        with open(one, "rb") as a, open(many, "rb") as b:
            same = a.read() == b.read()
        print(f"1 job    : {size / 1e6 / t1:6.2f} MB/s {n / t1:8.0f} records/s  peak RSS {rss1:5.0f} MB")
        print(f"{args.jobs} jobs   : {size / 1e6 / tn:6.2f} MB/s {n / tn:8.0f} records/s  "
              f"peak RSS {rssn:5.0f} MB (parent; each worker holds its own model)")
        print(f"speed-up --jobs {args.jobs} / 1 job: {t1 / tn:.2f}x   identical output: {same}")


if __name__ == "__main__":
    main()
