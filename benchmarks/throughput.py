"""Throughput of promofilter against the filters people write or use, measured in the same run.

    python benchmarks/throughput.py [--mb 200] [--sample-mb 5] [--repeat 3] [--model DIR] [--no-cli]

Writes a seeded JSONL of about --mb MB with the training generator (one article a record), then
times, on the same records:

- promofilter's Python API (``strip_many``, each document alone; also with the Python code instead
  of the compiled core, ``native.switched_off()``, on --sample-mb MB) and the CLI on the JSONL
  file (``promofilter strip in.jsonl -o out.jsonl``, one job, a fresh process: start-up included);
- batch mode (``strip_many(..., sites=..., batch=True)`` and ``--batch --site-field site``) on a
  second JSONL of the same size, composed in site batches (``generate_batches``: each site's
  trailers recur across its articles, a few stories are syndicated). The first input re-uses
  each of the corpus's articles many times over, which batch mode would count as repetition
  no real batch has;
- a hand-written keyword/regex line filter (what pipelines often do);
- a naive scikit-learn design: a character n-gram tf-idf + logistic regression line classifier
  (trained here on generated lines) that vectorises each line on its own, on --sample-mb MB;
- the C4 line rules of datatrove (``C4QualityFilter``) when it is installed
  (``pip install 'promofilter[bench]'``), on --sample-mb MB.

Prints MB/s and documents/s of each, MB per CPU second (every thread counted: the speed per
core), the ratios of promofilter to each baseline, and this process's peak RSS (the CLI's is
printed by ``benchmarks/batch.py``). The machine is shared and noisy: promofilter's figures and
the keyword filter's are each the best of --repeat runs (the least disturbed one; a single run
varied by 30 % from one to the next), and the ratios are the figures to read. The CLI runs the
promofilter this script imports, wherever it is started from, with compiled bytecode as an
installed package has it (``startup.as_installed``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

import promofilter
from promofilter import native
from promofilter.corpus import generate, generate_batches, load_corpus
from startup import as_installed  # (this script's directory is on the path)

# A typical hand-written filter: drop lines that contain promo keywords.
KEYWORDS = re.compile(
    r"subscribe|newsletter|follow us|sign up|download (?:our|the) app|read more|related:|sponsored|"
    r"advertisement|appeared first on|image (?:source|credit)|featured image|photo:|source:|disclaimer|"
    r"not (?:financial|investment) advice|all rights reserved|click here", re.I)


def keyword_filter(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not KEYWORDS.search(line))


def naive_line_classifier(corpus):
    """The naive design: each line vectorised on its own with character n-grams."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    lines, labels = [], []
    for doc in generate(corpus, 1500, seed=99, prefix="naive"):
        text, pos = doc["text"], 0
        for line in text.splitlines(keepends=True):
            start, pos = pos, pos + len(line)
            if line.strip():
                promo = sum(max(0, min(e, pos) - max(s, start)) for s, e, _ in doc["promo_spans"])
                lines.append(line)
                labels.append(int(promo * 2 > len(line)))
    pipe = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2),
                         LogisticRegression(max_iter=1000)).fit(lines, labels)

    def clean(text: str) -> str:
        return "".join(line for line in text.splitlines(keepends=True)
                       if not line.strip() or pipe.predict([line])[0] == 0)
    return clean


def c4_filter():
    try:
        from datatrove.data import Document
        from datatrove.pipeline.filters.c4_filters import C4QualityFilter
    except ImportError:
        return None
    rules = C4QualityFilter(filter_no_terminal_punct=True)

    def clean(text: str) -> str:
        doc = Document(text=text, id="0")
        rules.filter(doc)
        return doc.text
    try:  # the rules split sentences with spaCy, which datatrove imports only on first use
        clean("One sentence here. Another one follows it.")
    except ImportError as e:
        print(f"C4 baseline skipped: {e}")
        return None
    return clean


def site_batched(corpus, path: str, mb: float) -> tuple[list[str], list[str], int]:
    """A JSONL of about ``mb`` MB of site-batched documents (id, text, site) at ``path``: their
    texts, sites and the file's size in bytes. Each site is named with its batch, so the file is
    one batch in which repetition is counted within each generated batch's sites (across them,
    the same articles come back: the corpus holds a few hundred)."""
    texts, sites, size, seed = [], [], 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while size < mb * 1e6:
            for doc in generate_batches(corpus, 2000, seed=seed, prefix=f"b{seed}"):
                site = f"{doc['batch']} {doc['site']}"
                line = json.dumps({"id": doc["id"], "text": doc["text"], "site": site}, ensure_ascii=False)
                f.write(line + "\n")
                texts.append(doc["text"])
                sites.append(site)
                size += len(line.encode()) + 1
            seed += 1
    return texts, sites, size


def timed(fn) -> tuple[float, float]:
    """Wall seconds and CPU seconds of ``fn()``: this process's, and its finished children's
    (the CLI runs). CPU time counts every thread, so a library that spins threads on other
    cores shows here; MB per CPU second is the speed per core."""
    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    started, cpu_started = time.perf_counter(), cpu()
    fn()
    return time.perf_counter() - started, cpu() - cpu_started


def best_of(repeat: int, fn) -> tuple[float, float]:
    """``timed(fn)`` ``repeat`` times: the run of the least wall seconds (its wall and CPU seconds)."""
    return min(timed(fn) for _ in range(max(repeat, 1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=200.0, help="input size in MB")
    ap.add_argument("--sample-mb", type=float, default=5.0, help="input for the slow baselines")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each promofilter figure and the keyword filter's")
    ap.add_argument("--model", default=None)
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI run")
    args = ap.parse_args()
    corpus = load_corpus()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.jsonl")
        docs, size, seed = [], 0, 0
        with open(path, "w", encoding="utf-8") as f:
            while size < args.mb * 1e6:
                for doc in generate(corpus, 2000, seed=seed):
                    line = json.dumps({"id": doc["id"], "text": doc["text"]}, ensure_ascii=False) + "\n"
                    f.write(line)
                    docs.append(doc["text"])
                    size += len(line.encode())
                seed += 1
        text_mb = sum(len(t.encode()) for t in docs) / 1e6
        sample, sampled = [], 0
        for t in docs:
            if sampled >= args.sample_mb * 1e6:
                break
            sample.append(t)
            sampled += len(t.encode())
        sample_mb = sampled / 1e6
        print(f"input: {len(docs)} documents, {text_mb:.1f} MB of text, {size / 1e6:.1f} MB of JSONL "
              f"(seeded generator); slow baselines on the first {sample_mb:.1f} MB")

        model = promofilter.load_model(args.model) if args.model else promofilter.load_model()
        rows = []  # (name, MB/s, docs/s, MB per CPU second)
        t, c = best_of(args.repeat, lambda: sum(1 for _ in model.strip_many(docs)))
        rows.append(("promofilter strip_many (API), alone", text_mb / t, len(docs) / t, text_mb / c))
        compiled_speed = None
        if native.core() is not None:  # on the sample, scored by NumPy instead of the compiled core, and not
            t_sample, _ = best_of(args.repeat, lambda: sum(1 for _ in model.strip_many(sample)))
            with native.switched_off():
                t_numpy, _ = timed(lambda: sum(1 for _ in model.strip_many(sample)))
            compiled_speed = (sample_mb / t_sample, sample_mb / t_numpy)
        else:
            print("the compiled core is not built: scoring with NumPy (see README, Performance)")
        batched = site_batched(corpus, os.path.join(tmp, "sites.jsonl"), args.mb) if model.uses_repetition else None
        if batched is not None:
            b_docs, b_sites, b_size = batched
            b_mb = sum(len(t.encode()) for t in b_docs) / 1e6
            t, c = best_of(args.repeat, lambda: sum(1 for _ in model.strip_many(b_docs, sites=b_sites, batch=True)))
            rows.append(("promofilter strip_many (API), batch mode*", b_mb / t, len(b_docs) / t, b_mb / c))
        if not args.no_cli:
            # the CLI of the promofilter imported here: `python -m` looks in its working directory
            # first, so it runs in the temporary one with this promofilter's directory on the path
            home = os.path.dirname(os.path.dirname(os.path.abspath(promofilter.__file__)))
            path_dirs = os.pathsep.join(filter(None, [home, os.environ.get("PYTHONPATH")]))
            env = as_installed(dict(os.environ, PYTHONPATH=path_dirs,
                                    **({"PROMOFILTER_MODEL": os.path.abspath(args.model)} if args.model else {})),
                               os.path.join(tmp, "bytecode"))
            def cli(source: str, extra: list[str]) -> None:
                done = subprocess.run([sys.executable, "-m", "promofilter", "strip", source, "-o",
                                       os.path.join(tmp, "out.jsonl"), *extra], env=env, cwd=tmp,
                                      stderr=subprocess.PIPE, text=True)
                if done.returncode != 0:
                    sys.exit(f"the CLI failed (exit {done.returncode}): {done.stderr.strip()}")

            # a first run writes the bytecode (as pip does at install time): not timed
            warm = os.path.join(tmp, "warm.jsonl")
            with open(path, encoding="utf-8") as src, open(warm, "w", encoding="utf-8") as dst:
                dst.writelines(line for _, line in zip(range(20), src))
            cli(warm, [])
            t, c = best_of(args.repeat, lambda: cli(path, []))
            rows.append(("promofilter CLI on JSONL, 1 job", size / 1e6 / t, len(docs) / t, size / 1e6 / c))
            if batched is not None:
                t, c = best_of(args.repeat, lambda: cli(os.path.join(tmp, "sites.jsonl"),
                                                        ["--batch", "--site-field", "site"]))
                rows.append(("promofilter CLI on JSONL, 1 job --batch*", b_size / 1e6 / t, len(b_docs) / t,
                             b_size / 1e6 / c))
        t, c = best_of(args.repeat, lambda: [keyword_filter(x) for x in docs])
        rows.append(("keyword/regex line filter", text_mb / t, len(docs) / t, text_mb / c))
        naive = naive_line_classifier(corpus)
        t, c = timed(lambda: [naive(x) for x in sample])
        rows.append(("naive per-line sklearn (char n-grams)", sample_mb / t, len(sample) / t, sample_mb / c))
        c4 = c4_filter()
        if c4 is not None:
            t, c = timed(lambda: [c4(x) for x in sample])
            rows.append(("datatrove C4 line rules", sample_mb / t, len(sample) / t, sample_mb / c))
        else:
            print("C4 baseline skipped: datatrove or spaCy not installed (pip install 'promofilter[bench]')")
    for name, mbs, dps, per_cpu in rows:
        print(f"{name:<42}: {mbs:8.2f} MB/s  {dps:9.0f} docs/s  {per_cpu:8.2f} MB per CPU second")
    ours = [r for r in rows if r[0].startswith("promofilter")]
    for name, mbs, _, per_cpu in rows:
        if not name.startswith("promofilter"):
            print(f"speed / {name}: " + ", ".join(f"{o[0].split(' ', 1)[1]} {o[1] / mbs:.2f}x" for o in ours))
            print("  per CPU second: " + ", ".join(f"{o[0].split(' ', 1)[1]} {o[3] / per_cpu:.2f}x" for o in ours))
    if any(name.endswith("*") for name, *_ in rows):
        print("* on the site-batched input (generate_batches), not the first one")
    if compiled_speed is not None:
        print(f"API alone on the sample, compiled core / Python code (native.switched_off()): "
              f"{compiled_speed[0]:.2f} / {compiled_speed[1]:.2f} MB/s = {compiled_speed[0] / compiled_speed[1]:.2f}x")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          "(it holds every document in memory)")


if __name__ == "__main__":
    main()
