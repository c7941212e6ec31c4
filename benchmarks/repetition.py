"""Batch mode's first pass: speed and memory of counting repeated segments.

    python benchmarks/repetition.py [--docs 30000]

Generates site batches with the training generator (seeded), counts them with
``RepetitionCounter`` and prints segments counted, distinct keys, the frozen counts' size per
million segments, the counting speed in MB/s, and, in the same run, the speed of segmenting the
same documents alone (the floor any counting pass pays) as a ratio.
"""
from __future__ import annotations

import argparse
import resource
import time

from promofilter.corpus import generate_batches, load_corpus
from promofilter.repetition import RepetitionCounter
from promofilter.segment import segment


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=30000)
    args = ap.parse_args()
    docs = generate_batches(load_corpus(), args.docs, seed=11)
    texts = [d["text"] for d in docs]
    sites = [d["site"] for d in docs]
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6

    started = time.perf_counter()
    segments = sum(len(segment(t)) for t in texts)
    t_segment = time.perf_counter() - started

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    counter = RepetitionCounter()
    for i in range(0, len(texts), 512):
        counter.add(texts[i:i + 512], sites[i:i + 512])
    counts = counter.freeze()
    t_count = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"input: {len(texts)} documents in site batches, {mb:.1f} MB, {segments} segments")
    print(f"keys found in two or more documents: {len(counts.keys)}; frozen counts {counts.nbytes / 1e6:.1f} MB = "
          f"{counts.nbytes / segments * 1e6 / 1e6:.1f} MB per million segments (what every worker holds); "
          f"while counting, at most {counter.max_keys} distinct keys ({counter.max_keys * 16 / 1e6:.0f} MB) "
          "are held in memory, the rest spilled to disk")
    print(f"counting pass: {mb / t_count:.2f} MB/s; segmentation alone: {mb / t_segment:.2f} MB/s "
          f"(counting runs at {t_segment / t_count:.2f}x the speed of segmenting)")
    print(f"peak RSS before counting {rss_before:.0f} MB, after {rss_after:.0f} MB")


if __name__ == "__main__":
    main()
