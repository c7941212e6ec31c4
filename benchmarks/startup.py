"""Start-up cost as users feel it: whole processes, median of several runs.

    python benchmarks/startup.py [--runs 7] [--model DIR]

Times ``promofilter --version`` and ``promofilter strip`` on a ~2 KB article (seeded generator,
written to a temporary file), each as a fresh process, against ``python -c pass`` measured in the
same run (the interpreter's own start-up: the floor no command can go under). Prints the median
seconds of each and the ratio to that floor. The children run with compiled bytecode, as an
installed package does (``as_installed``). Targets (issue "Throughput"): --version <= 0.3 s,
stripping one short article <= 1 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from promofilter.corpus import generate, load_corpus


def as_installed(env: dict, cache_dir: str) -> dict:
    """``env`` for a child that runs promofilter with compiled bytecode, as an installed package
    does (pip writes it at install time). A PYTHONDONTWRITEBYTECODE in the environment (some
    sandboxes and container images set it) would make every process of a source checkout compile
    promofilter's modules from source again (0.08-0.1 s a start here): the child writes and reads
    its bytecode under ``cache_dir`` instead, never in the source tree."""
    env = dict(env, PYTHONPYCACHEPREFIX=cache_dir)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def median_seconds(cmd: list[str], runs: int, env: dict) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def short_article() -> str:
    """The first generated document of about 2 KB (1.5-2.5 KB) with a promo in it."""
    for doc in generate(load_corpus(), 200, seed=0):
        if 1500 <= len(doc["text"].encode()) <= 2500 and doc["promo_spans"]:
            return doc["text"]
    raise SystemExit("no ~2 KB document in the first 200 generated")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    env = dict(os.environ)
    if args.model:
        env["PROMOFILTER_MODEL"] = args.model
    with tempfile.TemporaryDirectory() as tmp:
        env = as_installed(env, os.path.join(tmp, "bytecode"))
        article = os.path.join(tmp, "article.txt")
        text = short_article()
        with open(article, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        median_seconds([sys.executable, "-m", "promofilter", "strip", article], 1, env)  # bytecode written
        floor = median_seconds([sys.executable, "-c", "pass"], args.runs, env)
        version = median_seconds([sys.executable, "-m", "promofilter", "--version"], args.runs, env)
        strip = median_seconds([sys.executable, "-m", "promofilter", "strip", article], args.runs, env)
    print(f"median of {args.runs} runs, whole processes")
    print(f"python -c pass                 : {floor:6.3f} s")
    print(f"promofilter --version          : {version:6.3f} s  ({version / floor:5.1f}x python's own start-up)")
    print(f"promofilter strip ({len(text.encode())} B article): {strip:6.3f} s  ({strip / floor:5.1f}x python's own start-up)")


if __name__ == "__main__":
    main()
