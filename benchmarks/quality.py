"""Quality against a keyword line filter, on the same gold file, with the team's scorer.

    python benchmarks/quality.py [--gold GOLD.jsonl] [--model DIR] [--scorer score.py]

GOLD defaults to ../shared/realworld/dev.jsonl (evaluation only) and the scorer to
../shared/bench/score.py; without them, pass any gold JSONL (e.g. one written by the generator)
and a scorer. Prints precision, recall, F1, content loss and lossy documents of promofilter and
of the typical hand-written filter in benchmarks/throughput.py, side by side.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import promofilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import keyword_filter  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


def score(scorer: Path, gold: Path, pred: Path, out: Path) -> dict:
    subprocess.run([sys.executable, str(scorer), str(gold), str(pred), "--json", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["overall"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gold", default=str(SHARED / "realworld" / "dev.jsonl"))
    ap.add_argument("--scorer", default=str(SHARED / "bench" / "score.py"))
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    gold, scorer = Path(args.gold), Path(args.scorer)
    for path in (gold, scorer):
        if not path.is_file():
            sys.exit(f"not found: {path} (see --help)")
    docs = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    model = promofilter.load_model(args.model)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp) / "promofilter.jsonl", Path(tmp) / "keywords.jsonl"
        with open(ours, "w", encoding="utf-8") as f:
            for doc, result in zip(docs, model.explain_many([d["text"] for d in docs])):
                f.write(json.dumps({"id": doc["id"], "removed": [[s.start, s.end] for s in result.removed]}) + "\n")
        with open(theirs, "w", encoding="utf-8") as f:
            for doc in docs:
                f.write(json.dumps({"id": doc["id"], "text": keyword_filter(doc["text"])}) + "\n")
        rows["promofilter"] = score(scorer, gold, ours, Path(tmp) / "a.json")
        rows["keyword line filter"] = score(scorer, gold, theirs, Path(tmp) / "b.json")
    print(f"{gold.name}: {len(docs)} documents, team scorer")
    print(f"{'':<22}{'precision':>10}{'recall':>8}{'F1':>7}{'content loss':>14}{'lossy docs':>12}")
    for name, o in rows.items():
        print(f"{name:<22}{o['precision']:>10.3f}{o['recall']:>8.3f}{o['f1']:>7.3f}"
              f"{o['content_loss']:>13.2%}{o['lossy_rate']:>12.1%}")


if __name__ == "__main__":
    main()
