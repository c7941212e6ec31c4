"""Calibrate a built model's early exit from stage 2 (``promofilter/early_exit.py``), and verify it.

    python training/calibrate_early_exit.py [--model models] [--seed 0] [--verify-seed 4242]

A build calibrates its model itself (``build.calibrate_early_exit``); this adds the bounds to a
model built before there were any, the same way: documents generated at the build seed plus
``EXIT_SEED``. It writes ``early_exit`` into model.json and model_card.json and renders
MODEL_CARD.md again (the model file and its sha256 are untouched), then reports, on documents
generated at ``--verify-seed``, how many removals the bounds would lose at each floor and the
share of segments that stop. Nothing here reads the real-world file.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import promofilter
from promofilter.build import EXIT_DOCS, calibrate_early_exit
from promofilter.card import _markdown
from promofilter.corpus import generate, load_corpus
from promofilter.early_exit import EXIT_KEY, changed_removals
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
    ap.add_argument("--verify-seed", type=int, default=4242)
    args = ap.parse_args()
    out = Path(args.model)
    model = promofilter.load_model(out)
    corpus = load_corpus()
    exit = calibrate_early_exit(model.estimator(), corpus, args.seed, args.documents)
    if exit is None:
        raise SystemExit("this model's stage 2 cannot stop early (an averaged model, or nothing reached a floor)")
    entry = exit.to_metadata()
    for name in ("model.json", "model_card.json"):
        if (out / name).is_file():
            _update_json(out / name, EXIT_KEY, entry)
    if (out / "model_card.json").is_file():
        card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
        atomic_write(out / "MODEL_CARD.md", _markdown(card).encode())
    print(f"{out}: first {exit.trees} trees; bounds (floor: log-odds)",
          ", ".join(f"{f}: {b:.3f}" for f, b in exit.bounds))
    model = promofilter.load_model(out)
    texts = [d["text"] for d in generate(corpus, args.documents, seed=args.verify_seed, prefix="verify")]
    for floor, r in changed_removals(model.classifier, model.early_exit, texts).items():
        print(f"verification (seed {args.verify_seed}, {len(texts)} documents) floor {floor}: "
              f"{r['lost']} removals lost, {r['stopped']:.1%} of segments stop")


if __name__ == "__main__":
    main()
