"""Rebuild the shipped model in ../models from the authored corpus, deterministically.

    python training/build_model.py            # same as: promofilter train --base

Splits the corpus by article, promo family and hard negative; trains; picks the threshold on the
validation split; measures the held-out test split; writes models/model.npz, model.json,
model_card.json, MODEL_CARD.md and the plots. When ../shared/realworld/dev.jsonl exists, the card
also carries the team scorer's figures on it (measured only, never trained or tuned on).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from promofilter.build import build_model

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "models"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-realworld", action="store_true", help="skip the real-world figures")
    ap.add_argument("--batch-share", type=float, default=None,
                    help="generated site-batch documents per document alone, for the batch head "
                         "(default 1.0, the shipped recipe; 0: a model without batch mode)")
    ap.add_argument("--members", type=int, default=None,
                    help="members of an averaged model, each trained on its own draw of documents "
                         "(default: the shipped recipe's)")
    args = ap.parse_args()
    if args.members is not None and args.members < 1:
        ap.error("--members must be at least 1")
    extra = {} if args.batch_share is None else {"batch_share": args.batch_share}
    if args.members is not None:
        extra["members"] = args.members
    card = build_model(out_dir=args.out, corpus_dir=ROOT / "training" / "corpus", seed=args.seed, **extra,
                       realworld=False if args.no_realworld else None,
                       command=" ".join(["python training/build_model.py", *sys.argv[1:]]))
    test = card["metrics"]["test"]
    print(f"{args.out}: threshold {card['threshold']}  test P {test['precision']:.3f} R {test['recall']:.3f} "
          f"F1 {test['f1']:.3f} content loss {test['content_loss']:.4%} lossy docs {test['lossy_docs']:.2%}")
    if "realworld" in card:
        o = card["realworld"]["scores"]["overall"]
        print(f"real world ({card['realworld']['file']}): P {o['precision']:.3f} R {o['recall']:.3f} F1 {o['f1']:.3f} "
              f"content loss {o['content_loss']:.4%} lossy docs {o['lossy_rate']:.2%}")


if __name__ == "__main__":
    main()
