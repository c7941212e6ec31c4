"""Time grows linearly with input size: one huge line, and one huge file, cleaned by the CLI.

    python benchmarks/linearity.py [--max-mb 10] [--shape both|one-line|lines]

Builds (seeded generator) a single line of 1.25, 2.5, 5 and 10 MB (no newline anywhere: the worst
case for line-based tools) and a multi-line file of the same sizes, cleans each with
``promofilter strip`` in a fresh process, and prints seconds, MB/s and the *marginal* seconds per
MB between consecutive sizes (process start-up and model loading cancel out): about constant means
linear, growing with size would mean quadratic creep. The output is checked to be the input minus
the reported spans; the peak resident memory of each cleaning process is printed too.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from promofilter import remove_spans
from promofilter.corpus import generate, load_corpus


def build(mb: float, one_line: bool) -> str:
    parts, size, seed = [], 0, 0
    corpus = load_corpus()
    while size < mb * 1e6:
        for doc in generate(corpus, 500, seed=seed):
            text = " ".join(doc["text"].split()) if one_line else doc["text"]
            parts.append(text)
            size += len(text.encode())
            if size >= mb * 1e6:
                break
        seed += 1
    return (" " if one_line else "\n\n").join(parts)


def clean(path: str, tmp: str) -> tuple[float, bool, float]:
    """Seconds, whether output = input - reported spans, and the process's peak RSS in MB."""
    out, report = os.path.join(tmp, "out.txt"), os.path.join(tmp, "report.jsonl")
    started = time.perf_counter()
    # a helper that waits for the cleaner: its ru_maxrss is the cleaner's own peak, not the
    # maximum over every child this benchmark has run
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "promofilter", "strip", path,
                           "-o", out, "--report", report], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak_mb = int(done.stdout.split()[-1]) / (1024 * 1024 if sys.platform == "darwin" else 1024)  # bytes on macOS
    with open(path, encoding="utf-8", newline="") as f:
        original = f.read()
    with open(out, encoding="utf-8", newline="") as f:
        cleaned = f.read()
    with open(report, encoding="utf-8") as f:
        spans = [(r["start"], r["end"]) for r in map(json.loads, f)]
    return seconds, remove_spans(original, spans) == cleaned, peak_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-mb", type=float, default=10.0)
    ap.add_argument("--shape", choices=("both", "one-line", "lines"), default="both")
    args = ap.parse_args()
    sizes = [args.max_mb / 8, args.max_mb / 4, args.max_mb / 2, args.max_mb]
    with tempfile.TemporaryDirectory() as tmp:
        for one_line in {"both": (True, False), "one-line": (True,), "lines": (False,)}[args.shape]:
            previous = None
            print("one line, no newline" if one_line else "many lines")
            for mb in sizes:
                path = os.path.join(tmp, "in.txt")
                with open(path, "w", encoding="utf-8", newline="") as f:
                    f.write(build(mb, one_line))
                seconds, exact, peak_mb = clean(path, tmp)
                marginal = "" if previous is None else f"marginal {(seconds - previous[1]) / (mb - previous[0]):5.2f} s/MB"
                previous = (mb, seconds)
                print(f"  {mb:6.2f} MB: {seconds:6.1f} s  {mb / seconds:5.2f} MB/s  {marginal:<22}"
                      f"peak RSS {peak_mb:6.0f} MB  output = input - report: {exact}", flush=True)


if __name__ == "__main__":
    main()
