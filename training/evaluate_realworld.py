"""Score a model on a gold file (default ../shared/realworld/dev.jsonl) with the team scorer.

    python training/evaluate_realworld.py [--model DIR] [--gold GOLD.jsonl] [--worst N] [--threshold T]
        [--run-threshold R]

Writes the predictions next to nothing in the repo (a temp file) and prints the scorer's report:
overall, per kind, per site and the worst documents. Evaluation only: nothing here trains.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import promofilter
from promofilter import StripConfig

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--gold", default=str(ROOT.parent / "shared" / "realworld" / "dev.jsonl"))
    ap.add_argument("--worst", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--run-threshold", type=float, default=None,
                    help="remove a segment right after a removed one from this score on")
    ap.add_argument("--pred", default=None, help="also keep the predictions here")
    args = ap.parse_args()
    gold = Path(args.gold)
    if not gold.is_file():
        sys.exit(f"no gold file at {gold}")
    scorer = gold.parent.parent / "bench" / "score.py"
    model = promofilter.load_model(args.model) if args.model else promofilter.load_model()
    docs = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    config = StripConfig(threshold=args.threshold, run_threshold=args.run_threshold)
    with tempfile.TemporaryDirectory() as tmp:
        pred = Path(args.pred) if args.pred else Path(tmp) / "pred.jsonl"
        with open(pred, "w", encoding="utf-8") as f:
            for doc, result in zip(docs, model.explain_many([d["text"] for d in docs], config)):
                f.write(json.dumps({"id": doc["id"], "removed": [[s.start, s.end] for s in result.removed]}) + "\n")
        cmd = [sys.executable, str(scorer), str(gold), str(pred)]
        if args.worst:
            cmd += ["--worst", str(args.worst)]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
