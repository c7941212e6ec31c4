"""Adaptation: how many labelled examples teach the model a promo style it has never seen.

    python benchmarks/adaptation.py [--family ad-pr-agency-plug] [--train-docs 2000] [--k 0 5 10 20]

One promo family is taken out of the authored corpus. A model trained on the rest is measured on
documents carrying that family (recall on its spans) and on ordinary held-out documents (content
loss). Then k labelled documents carrying the family are added to the training documents, the
model is retrained the same way, and both are measured again on the same evaluation documents
(other instances of the family than the k examples). "family recall" counts the family's own
spans; "all promo" also counts the related-headline runs the generator adds to any document. Each row prints recall, content loss and the
retrain time; the k = 0 row is the baseline of the same run.

``--method learn`` (also run by default) instead folds k labelled promo *lines* of the family into
the k = 0 model the way ``promofilter learn`` does (``promofilter.learning.retrain_with``: the
stage-1 correction and the example memory).
"""
from __future__ import annotations

import argparse
import dataclasses
import time

from promofilter.corpus import generate, load_corpus, split_corpus
from promofilter.learning import LearnedSample, retrain_with
from promofilter.training import fit_filter, metrics_at, scored_documents


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", default="ad-pr-agency-plug")
    ap.add_argument("--train-docs", type=int, default=2000)
    ap.add_argument("--k", type=int, nargs="+", default=[0, 5, 10, 20])
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--method", choices=["retrain", "learn"], nargs="+", default=["retrain", "learn"])
    args = ap.parse_args()

    corpus = load_corpus()
    family = next((f for f in corpus.families if f.name == args.family), None)
    if family is None:
        raise SystemExit(f"no family {args.family!r}; e.g. {', '.join(f.name for f in corpus.families[:5])}")
    without = dataclasses.replace(corpus, families=[f for f in corpus.families if f.name != family.name])
    train_side, test_side = split_corpus(without, 0.2, salt="test")
    only_family = dataclasses.replace(train_side, families=[family])
    base_docs = generate(train_side, args.train_docs, seed=1, prefix="train")
    family_eval = [d for d in generate(dataclasses.replace(test_side, families=[family]), 300, seed=2, prefix="fam")
                   if d["promo_spans"]]
    ordinary_eval = generate(test_side, 400, seed=3, prefix="test")
    examples = [d for d in generate(only_family, 4 * max(args.k), seed=4, prefix="ex") if d["promo_spans"]]

    print(f"family {family.name} ({family.kind.value}, {len(family.templates)} templates) held out; "
          f"{len(base_docs)} training documents; threshold {args.threshold}")
    lines = list(dict.fromkeys(d["text"][s:e] for d in examples for s, e, _ in d["promo_spans"]))

    def measure(model):
        # the family's own spans: its documents also carry "related headlines" runs (crosspromo),
        # which are not the family (unless the family is itself a crosspromo one)
        family_metrics = metrics_at(family_eval, scored_documents(model, family_eval), args.threshold)
        loss = metrics_at(ordinary_eval, scored_documents(model, ordinary_eval), args.threshold).content_loss
        return family_metrics.per_kind_recall.get(family.kind.value, 0.0), family_metrics.recall, loss

    print(f"{'method':>8}{'k':>4}{'family recall':>15}{'all promo':>11}{'content loss':>14}{'retrain s':>11}")
    started = time.perf_counter()
    base = fit_filter(base_docs, threshold=args.threshold)
    base_seconds = time.perf_counter() - started
    for method in args.method:
        for k in args.k:
            started = time.perf_counter()
            if k == 0:
                model, seconds = base, base_seconds
            elif method == "retrain":  # k labelled documents added, full retrain
                model = fit_filter(base_docs + examples[:k], threshold=args.threshold)
            else:  # k labelled promo lines folded in, as `promofilter learn` does
                model = retrain_with(base, [LearnedSample(x, "promo", family.kind.value, "") for x in lines[:k]])
            seconds = seconds if k == 0 else time.perf_counter() - started
            recall, all_recall, loss = measure(model)
            print(f"{method:>8}{k:>4}{recall:>15.3f}{all_recall:>11.3f}{loss:>13.3%}{seconds:>11.1f}", flush=True)


if __name__ == "__main__":
    main()
