"""Audit the corpus against an evaluation file: lines of training/ that share word n-grams with it.

    python training/audit_overlap.py [--gold ../shared/realworld/dev.jsonl] [--n 6] [--min 3]

The corpus must be written by this project, never copied or modelled on the evaluation file. This
prints every corpus line sharing at least ``--min`` distinct word ``--n``-grams with the gold
texts, most shared first, for a person to judge: stock phrases of a genre ("did not respond to a
request for comment") are expected; a template that follows one document closely is not.
Code identifiers are compared too: CSS selectors, camelCase and snake_case names found in both. Evaluation data is only read, never written or copied anywhere.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_WORD = re.compile(r"[a-z0-9#@$%!._-]+")
# code identifiers: CSS selectors ".news-box {", camelCase and snake_case names
_IDENT = re.compile(r"(?<=[.#])[A-Za-z][\w-]{3,}(?=\s*[{,:])|\b[a-z]{2,}[A-Z]\w{3,}|\b[A-Za-z]+_\w+")


def _grams(text: str, n: int) -> set[str]:
    words = _WORD.findall(text.lower())
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gold", default=str(ROOT.parent / "shared" / "realworld" / "dev.jsonl"))
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--min", type=int, default=3, dest="min_shared")
    args = ap.parse_args()
    gold = Path(args.gold)
    if not gold.is_file():
        sys.exit(f"no gold file at {gold}")
    texts = [json.loads(line)["text"] for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    gold_grams: set[str] = set()
    gold_idents: set[str] = set()
    for text in texts:
        gold_grams |= _grams(text, args.n)
        gold_idents |= set(_IDENT.findall(text))
    found = []
    for path in sorted((ROOT / "training").rglob("*.txt")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            shared = _grams(line, args.n) & gold_grams
            idents = {i for i in _IDENT.findall(line) if i in gold_idents}
            if len(shared) >= args.min_shared or idents:
                found.append((len(shared) + 10 * len(idents), path.relative_to(ROOT), number, line, idents))
    for _, path, number, line, idents in sorted(found, key=lambda f: -f[0]):
        extra = f"  identifiers: {', '.join(sorted(idents))}" if idents else ""
        print(f"{path}:{number}: {line[:140]}{extra}")
    print(f"{len(found)} corpus lines share {args.min_shared}+ word {args.n}-grams or an identifier with {gold.name}")


if __name__ == "__main__":
    main()
