"""Throughput of the Python API against a keyword/regex line filter, measured in the same run.

    python benchmarks/throughput.py [--mb 20] [--model DIR]

Builds a seeded input with the training generator, then times ``strip_many`` and the baseline on
it (best of --repeat runs) and prints MB/s, documents/s, the ratio, and peak RSS. The machine is
shared and noisy: read the ratio, not the absolute figure.
"""
from __future__ import annotations

import argparse
import re
import resource
import time

import promofilter
from promofilter.corpus import generate, load_corpus

# A typical hand-written filter: drop lines that contain promo keywords.
KEYWORDS = re.compile(
    r"subscribe|newsletter|follow us|sign up|download (?:our|the) app|read more|related:|sponsored|"
    r"advertisement|appeared first on|image (?:source|credit)|featured image|photo:|source:|disclaimer|"
    r"not (?:financial|investment) advice|all rights reserved|click here", re.I)


def keyword_filter(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not KEYWORDS.search(line))


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=20.0, help="input size in MB")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    corpus = load_corpus()
    docs, size = [], 0
    seed = 0
    while size < args.mb * 1e6:
        batch = [d["text"] for d in generate(corpus, 2000, seed=seed)]
        docs += batch
        size += sum(len(t.encode()) for t in batch)
        seed += 1
    model = promofilter.load_model(args.model) if args.model else promofilter.load_model()
    mb = size / 1e6
    t_api = best_of(lambda: model.strip_many(docs, batch=False), args.repeat)
    t_batch = best_of(lambda: model.strip_many(docs, batch=True), args.repeat) if model.uses_repetition else None
    t_kw = best_of(lambda: [keyword_filter(t) for t in docs], args.repeat)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"input: {len(docs)} documents, {mb:.1f} MB (seeded generator)")
    print(f"promofilter strip_many : {mb / t_api:8.2f} MB/s  {len(docs) / t_api:9.0f} docs/s  (each document alone)")
    if t_batch:
        print(f"  ... in batch mode    : {mb / t_batch:8.2f} MB/s  {len(docs) / t_batch:9.0f} docs/s  "
              f"(counting pass + repetition features: {t_api / t_batch:.2f}x the speed alone)")
    print(f"keyword line filter    : {mb / t_kw:8.2f} MB/s  {len(docs) / t_kw:9.0f} docs/s")
    print(f"ratio promofilter / keyword filter: {t_kw / t_api:.3f}")
    print(f"peak RSS: {rss:.0f} MB")


if __name__ == "__main__":
    main()
