"""Re-measure a built model's real-world figures under the current stripping code.

    python training/remeasure_realworld.py [--model models] [--why "..."]

A change to the policy alone (what is removed for the scores the model gives, such as runs)
leaves the model's arrays as they are, so its card's real-world section is re-measured rather
than the model rebuilt. This rewrites ``realworld`` in model_card.json and model.json (the
model file and its sha256 are untouched) and MODEL_CARD.md, and records when and why; the test
and validation figures stay those of the build, which the card says. Evaluation only: scored
with the team scorer on ../shared/realworld/dev.jsonl, nothing trains.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import promofilter
from promofilter.build import default_realworld, realworld_section
from promofilter.card import _markdown
from promofilter.textio import atomic_write

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models"))
    ap.add_argument("--why", required=True, help="what changed in the code since the build")
    args = ap.parse_args()
    out = Path(args.model)
    gold = default_realworld()
    if gold is None or not gold.is_file():
        sys.exit("no real-world file (../shared/realworld/dev.jsonl): nothing to re-measure")
    model = promofilter.load_model(out)
    realworld = realworld_section(model, gold)
    if realworld is None:
        sys.exit("no team scorer (../shared/bench/score.py)")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    realworld["remeasured"] = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "code": commit or None,
                               "why": args.why}
    card_path = out / "model_card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["realworld"] = realworld
    meta_path = out / "model.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["realworld"] = realworld
    atomic_write(card_path, (json.dumps(card, indent=2, sort_keys=True, default=str) + "\n").encode())
    atomic_write(meta_path, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    atomic_write(out / "MODEL_CARD.md", _markdown(card).encode())
    o = realworld["scores"]["overall"]
    print(f"{out}: real world P {o['precision']:.3f} R {o['recall']:.3f} F1 {o['f1']:.3f} "
          f"content loss {o['content_loss']:.4%} lossy docs {o['lossy_rate']:.2%}")


if __name__ == "__main__":
    main()
