"""Calibrate a built model's early exit from stage 2 (``promofilter/early_exit.py``), and verify it.

    python training/calibrate_early_exit.py [--model models] [--seed 0] [--margin M]
                                            [--verify-seeds 101,102,...] [--write]

A build calibrates its model itself (``build.calibrate_early_exit``); this adds the bounds to a
model built before there were any, the same way: documents generated at the build seed plus
``EXIT_SEED``. It then counts, on 6,000 documents generated at each ``--verify-seeds`` seed, the
removals the bounds would lose at each floor and the share of segments that stop; a floor that
loses any gets no bound. With ``--write`` it writes ``early_exit`` into model.json and
model_card.json and renders MODEL_CARD.md again (the model file and its sha256 are untouched).
Nothing here reads the real-world file.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import promofilter
from promofilter.build import EXIT_DOCS, calibrate_early_exit
from promofilter.card import _markdown
from promofilter.corpus import generate, load_corpus
from promofilter.early_exit import EXIT_KEY, MARGIN, lost_removals
from promofilter.scoring import compile_classifier
from promofilter.textio import atomic_write

ROOT = Path(__file__).resolve().parent.parent


def _update_json(path: Path, key: str, value) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data[key] = value
    atomic_write(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models"))
    ap.add_argument("--seed", type=int, default=0, help="the model's build seed")
    ap.add_argument("--documents", type=int, default=EXIT_DOCS)
    ap.add_argument("--margin", type=float, default=MARGIN)
    ap.add_argument("--verify-seeds", default="101,102,103,104,105,106,107,108")
    ap.add_argument("--write", action="store_true", help="write the bounds into the model directory")
    args = ap.parse_args()
    out = Path(args.model)
    model = promofilter.load_model(out)
    corpus = load_corpus()
    estimator = model.estimator()
    exit = calibrate_early_exit(estimator, corpus, args.seed, args.documents, args.margin)
    if exit is None:
        raise SystemExit("this model's stage 2 cannot stop early (an averaged model, or nothing reached a floor)")
    print(f"{out}: first {exit.trees} trees, margin {exit.margin}; bounds (floor: log-odds)",
          ", ".join(f"{f}: {b:.3f}" for f, b in exit.bounds))
    compiled = compile_classifier(estimator)
    losing = set()
    for seed in [int(s) for s in args.verify_seeds.split(",") if s.strip()]:
        texts = [d["text"] for d in generate(corpus, args.documents, seed=seed, prefix="v2")]
        for floor, r in lost_removals(compiled, exit, texts).items():
            print(f"verification seed {seed} ({len(texts)} documents) floor {floor}: "
                  f"{r['lost']} removals lost, {r['stopped']:.1%} of segments stop", flush=True)
            if r["lost"]:
                losing.add(floor)
    if losing:
        print("no bound (scores exact) at floors", sorted(losing))
        exit = exit.without(losing)
    if args.write:
        entry = exit.to_metadata()
        for name in ("model.json", "model_card.json"):
            if (out / name).is_file():
                _update_json(out / name, EXIT_KEY, entry)
        if (out / "model_card.json").is_file():
            card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
            atomic_write(out / "MODEL_CARD.md", _markdown(card).encode())
        if promofilter.load_model(out).early_exit is None:
            raise SystemExit(f"{out}: the bounds written are not taken by the model loaded from it")
        print(f"{out}: written")


if __name__ == "__main__":
    main()
