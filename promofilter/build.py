"""Building a model: corpus + samples -> split -> fit -> threshold on validation -> test metrics
-> model directory with its model card (JSON + Markdown + plots).

Splits are by *article*, *promo family* and *hard negative* (see ``corpus.split_corpus``), so the
test figures measure promo styles and articles the model never saw. The threshold is chosen on a
validation split carved out of the training side; the test split is only ever measured.
"""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .corpus import generate, generate_batches, load_corpus, split_corpus, split_folds
from .early_exit import EXIT_KEY
from .evaluate import Metrics
from .training import MEMBER_KEY, THRESHOLDS, choose_threshold, fit_filter, metrics_at, run_threshold_for, scored_documents

__all__ = ["build_model", "BuildError", "load_gold_documents", "default_realworld", "realworld_scores", "realworld_section"]

# Content loss the shipped threshold may spend on validation documents (0.2 % of characters).
MAX_VALIDATION_CONTENT_LOSS = 0.002
N_TRAIN_DOCS = 6000
N_EVAL_DOCS = 1200
# Validation documents (which choose the threshold) per test document. 600 of them moved the
# chosen threshold by a whole grid step between seeds (the content loss at 0.90 measured
# 0.16 % on 600 documents and 0.21 % on 3,000 of the same model). The 2,400 more documents add
# about a minute to the build (1,200 more added 33 s to `--quick`).
VALIDATION_PER_EVAL_DOC = 2.5
# `promofilter train --quick`: fewer generated documents and no refit (about 80 s here instead of
# 12 min; real-world F1 0.857 / content loss 0.15 % against 0.884 / 0.16 % for the full recipe)
QUICK = {"n_train_docs": 2000, "n_eval_docs": 600, "refit": False}
# Training documents come from this many disjoint parts of the corpus; stage 2 of the classifier
# learns from out-of-fold scores across them.
TRAIN_FOLDS = 3
# Documents composed in site batches, as a share of N_TRAIN_DOCS, on top of the documents scored
# alone as ``strip(text)`` sees them. They train only the batch head (see promofilter.model), so
# documents alone score exactly as without them; the threshold is chosen on documents alone. 0
# trains a model without batch mode; see training/README.md for the figures.
BATCH_SHARE = 1.0
# Members of the shipped model (an ``AveragedClassifier`` when above 1): each is the recipe fit on
# its own draw of generated training documents (generator seeds MEMBER_SEED_STEP apart), from the
# same corpus split; validation and test documents are shared. See training/README.md.
MEMBERS = 1
MEMBER_SEED_STEP = 1000
# the early exit's calibration documents (as many as the training documents, up to this) and the
# seed, on from the build's, they are generated at (no other draw of a build uses it)
EXIT_DOCS = 6000
EXIT_SEED = 31337


class BuildError(Exception):
    """Bad training input; the message names the file, line and problem."""


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def default_realworld() -> Path | None:
    path = _repo_root().parent / "shared" / "realworld" / "dev.jsonl"
    return path if path.is_file() else None


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _json_objects(path: Path):
    """(line number, object with a string ``text``) of every non-blank line; errors name the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BuildError(f"{path}: cannot read: {e}") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise BuildError(f"{path}:{no}: not valid JSON: {e}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise BuildError(f"{path}:{no}: expected an object with a string field 'text'")
        yield no, obj


def load_gold_documents(path: str | Path) -> list[dict]:
    """Whole documents with promo spans, one JSON object per line; errors name file and line."""
    from .results import Kind

    path = Path(path)
    docs = []
    for no, doc in _json_objects(path):
        spans = doc.get("promo_spans", [])
        for span in spans:
            if (not isinstance(span, list) or len(span) != 3 or not all(isinstance(x, int) for x in span[:2])
                    or not 0 <= span[0] < span[1] <= len(doc["text"])):
                raise BuildError(f"{path}:{no}: bad promo span {span!r}: expected [start, end, kind] within the text")
            try:
                Kind(span[2])
            except ValueError:
                raise BuildError(f"{path}:{no}: unknown kind {span[2]!r}") from None
        doc.setdefault("id", f"{path.stem}-{no}")
        docs.append(doc)
    return docs


def _segment_row_document(text: str, label: str, kind: str, where: str) -> dict:
    """A labelled segment as a one-line document: promo rows become one whole-text span."""
    from .results import Kind

    label = label.strip().lower()
    if label == "content":
        return {"text": text, "promo_spans": []}
    if label != "promo":
        try:
            kind = Kind(label).value  # a kind name is also a promo label
        except ValueError:
            raise BuildError(f"{where}: label must be promo, content or a kind, not {label!r}") from None
    try:
        kind = Kind(kind.strip()).value
    except ValueError:
        raise BuildError(f"{where}: a promo row needs a kind (ad, cta, crosspromo, disclaimer, credit, "
                         f"boilerplate), not {kind!r}") from None
    if kind == Kind.CONTENT.value:
        raise BuildError(f"{where}: a promo row needs a promo kind, not content")
    stripped = text.strip()
    if not stripped:
        raise BuildError(f"{where}: empty text")
    start = text.index(stripped)
    return {"text": text, "promo_spans": [[start, start + len(stripped), kind]]}


def load_samples(path: str | Path) -> list[dict]:
    """Labelled samples in either shape, as gold documents.

    - JSONL of whole documents (``text``, ``promo_spans``), the gold shape;
    - segment rows in CSV, Parquet or JSONL: ``text`` and ``label`` (``promo``/``content`` or a
      kind), with ``kind`` for promo rows (a ``model_kind`` column, as ``promofilter mine``
      writes, is used when ``kind`` is empty). Rows with an empty label are skipped (unlabelled).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet", ".pq"):
        import pandas as pd

        try:
            frame = (pd.read_csv(path, dtype=str, keep_default_na=False) if suffix == ".csv"
                     else pd.read_parquet(path))
        except Exception as e:  # pandas and pyarrow raise many types for unreadable files
            raise BuildError(f"{path}: cannot read: {e}") from None
        missing = {"text", "label"} - set(frame.columns)
        if missing:
            raise BuildError(f"{path}: needs columns text and label (missing: {', '.join(sorted(missing))})")
        docs = []
        for i, row in enumerate(frame.to_dict("records")):
            where = f"{path}: row {i + 1}"
            if not isinstance(row["text"], str):
                raise BuildError(f"{where}: text is not a string")
            label = row["label"] if isinstance(row["label"], str) else ""
            if not label.strip():
                continue
            kind = str(row.get("kind") or row.get("model_kind") or "")
            doc = _segment_row_document(row["text"], label, kind, where)
            doc["id"] = f"{path.stem}-{i + 1}"
            docs.append(doc)
        return docs
    objects = list(_json_objects(path))
    if objects and "label" in objects[0][1] and "promo_spans" not in objects[0][1]:
        docs = []
        for no, row in objects:
            if not str(row.get("label") or "").strip():
                continue
            doc = _segment_row_document(row["text"], str(row["label"]), str(row.get("kind") or ""), f"{path}:{no}")
            doc["id"] = f"{path.stem}-{no}"
            docs.append(doc)
        return docs
    return load_gold_documents(path)


def _removed_for(model, docs, batch: bool = False) -> list[list[tuple[int, int]]]:
    texts = [d["text"] for d in docs]
    sites = [d.get("site") if isinstance(d.get("site"), str) else None for d in docs]
    counts = model.count_repetition(texts, sites) if batch else None
    return [[(s.start, s.end) for s in r.removed] for r in model.explain_many(texts, sites=sites, repetition=counts)]


def realworld_section(model, gold_path: Path) -> dict | None:
    """The card's ``realworld`` section: the file, its sha256, and ``model``'s team-scorer figures
    on it, documents alone and (for a batch-aware model) as one batch (None: no scorer)."""
    scores = realworld_scores(model, gold_path)
    if not scores:
        return None
    section = {"file": gold_path.name, "sha256": _sha256_file(gold_path), "scores": scores}
    if model.uses_repetition:
        section["scores_batch"] = realworld_scores(model, gold_path, batch=True)
    return section


def realworld_scores(model, gold_path: Path, batch: bool = False) -> dict | None:
    """Score ``model`` on a gold file with the team's scorer (``shared/bench/score.py``); with
    ``batch``, the whole file is one batch (repetition counted per site)."""
    scorer = gold_path.parent.parent / "bench" / "score.py"
    if not scorer.is_file():
        return None
    docs = [json.loads(line) for line in gold_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    removed = _removed_for(model, docs, batch)
    with tempfile.TemporaryDirectory() as tmp:
        pred = Path(tmp) / "pred.jsonl"
        out = Path(tmp) / "score.json"
        pred.write_text("".join(json.dumps({"id": d["id"], "removed": r}) + "\n" for d, r in zip(docs, removed)))
        subprocess.run([sys.executable, str(scorer), str(gold_path), str(pred), "--json", str(out), "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        result = json.loads(out.read_text())
    return {k: result[k] for k in ("overall", "per_kind", "per_site") if k in result}


def _split_samples(docs: list[dict]) -> tuple[list[dict], list[dict]]:
    def test_side(doc):
        return int(hashlib.sha256(doc["text"].encode("utf-8", "surrogatepass")).hexdigest()[:8], 16) % 5 == 0
    return [d for d in docs if not test_side(d)], [d for d in docs if test_side(d)]


def _as_member(doc: dict, k: int) -> dict:
    """``doc`` as member ``k``'s training document; a copy in a site batch stays in a batch of
    that member's copies (one batch of every member's copies would make every segment recur)."""
    doc = dict(doc, **{MEMBER_KEY: k})
    if doc.get("batch") is not None:
        doc["batch"] = f"m{k}/{doc['batch']}"
    return doc


def calibrate_early_exit(classifier, corpus, seed: int = 0, documents: int = EXIT_DOCS, margin: float | None = None):
    """``early_exit.calibrate`` on ``documents`` generated from ``corpus`` at a seed of their
    own (``EXIT_SEED`` on from the build's), documents alone; None for an averaged model."""
    from .early_exit import MARGIN, calibrate
    from .scoring import Unsupported, compile_classifier

    try:
        compiled = compile_classifier(classifier)
    except Unsupported:
        return None
    texts = [d["text"] for d in generate(corpus, documents, seed=seed + EXIT_SEED, prefix="exit")]
    return calibrate(compiled, texts, MARGIN if margin is None else margin)


def build_model(out_dir=None, corpus_dir=None, use_base: bool = True, samples=(), seed: int = 0,
                realworld=None, command: str = "", n_train_docs: int = N_TRAIN_DOCS,
                n_eval_docs: int = N_EVAL_DOCS, plots: bool = True, params: dict | None = None,
                parent=None, parent_path: str | None = None, batch_share: float = BATCH_SHARE,
                refit: bool = True, members: int = MEMBERS) -> dict:
    """Train, evaluate and write a model directory; returns the model card as a dict.

    ``parent`` (a loaded model) is measured on the same held-out documents, at its own
    threshold, and stored in the card beside the new model's figures. With ``refit`` False the
    evaluation model itself is written (the test figures are then exactly the written model's;
    half the time, trained on the training side only; real-world F1 0.017-0.023 lower for the
    shipped recipe on two seeds, 2026-11-29). ``members`` above 1 builds an averaged model of
    that many members, each trained on its own draw of documents (user samples go to all)."""
    from .persist import save_model

    if members < 1:
        raise BuildError(f"members must be at least 1, not {members}")
    if members > 1 and not use_base:
        raise BuildError("members draw their documents from the authored corpus: more than one needs it (--base)")

    def for_members(docs: list[dict]) -> list[dict]:
        """``docs`` in every member's training documents."""
        return docs if members == 1 else [_as_member(d, k) for k in range(members) for d in docs]

    started = time.time()
    params = dict(params or {})
    train_docs, val_docs, test_docs = [], [], []
    inputs = {}
    card: dict = {"seed": seed, "params": params, "command": command, "batch_share": batch_share,
                  "refit": refit, "members": members,
                  "documents_requested": {"train": n_train_docs, "eval": n_eval_docs}}
    if use_base:
        corpus = load_corpus(corpus_dir)
        train_side, test_side = split_corpus(corpus, 0.2, salt="test")
        fit_side, val_side = split_corpus(train_side, 0.2, salt="validation")
        def compose(part, n, seed, prefix, group):
            return (generate(part, n, seed=seed, prefix=prefix, group=group)
                    + generate_batches(part, int(n * batch_share), seed=seed + 100, prefix=prefix + "b", group=group))

        for k in range(members):
            for i, part in enumerate(split_folds(fit_side, TRAIN_FOLDS)):
                drawn = compose(part, n_train_docs // TRAIN_FOLDS, seed + 10 + i + MEMBER_SEED_STEP * k,
                                f"m{k}train{i}" if k else f"train{i}", i)
                train_docs += drawn if members == 1 else [_as_member(d, k) for d in drawn]
        val_docs += generate(val_side, int(n_eval_docs * VALIDATION_PER_EVAL_DOC), seed=seed + 1, prefix="val",
                             group="val")
        test_docs += compose(test_side, n_eval_docs, seed + 2, "test", "test")
        card["corpus"] = {
            "sha256": corpus.sha256(), "articles": len(corpus.articles),
            "domains": len({a.domain for a in corpus.articles}),
            "promo_families": len(corpus.families),
            "promo_templates": sum(len(f.templates) for f in corpus.families),
            "hard_negatives": len(corpus.negatives),
            "test_articles": len(test_side.articles), "test_families": len(test_side.families),
        }
    for path in samples:
        docs = load_samples(path)
        inputs[str(path)] = _sha256_file(Path(path))
        fit_part, test_part = _split_samples(docs)
        train_docs += for_members(fit_part)
        val_docs += fit_part[: max(1, len(fit_part) // 5)] if not use_base else []
        test_docs += test_part
    if not train_docs:
        raise BuildError("no training documents")
    card["inputs_sha256"] = inputs

    # 1. an evaluation model: fit on the training side, choose the threshold on validation
    #    documents, measure the test side (articles and promo styles it never saw)
    model = fit_filter(train_docs, members=members, **params)
    val_used = val_docs or train_docs
    val_scored = scored_documents(model, val_used)
    threshold, val_sweep = choose_threshold(val_used, val_scored, MAX_VALIDATION_CONTENT_LOSS)
    run = run_threshold_for(threshold)
    model.run_threshold = run
    # what the runs add on the validation documents (reported; the run threshold is fixed)
    val_with_runs = metrics_at(val_used, val_scored, threshold, run_threshold=run) if run is not None else None
    # the headline test figures are those of documents alone (as `strip(text)` sees them); the
    # documents generated in site batches are reported apart, in batch mode and alone
    batch_test = [d for d in test_docs if d.get("batch") is not None]
    test_docs = [d for d in test_docs if d.get("batch") is None]
    test_scored = scored_documents(model, test_docs) if test_docs else []
    test_metrics: Metrics | None = metrics_at(test_docs, test_scored, threshold, run_threshold=run) if test_docs else None
    # the coarse grid and the chosen threshold itself (which the validation rule may take between)
    # (the sweep is of thresholds alone, as `--threshold t` removes: no runs)
    sweep = ([(t, metrics_at(test_docs, test_scored, t)) for t in sorted(set(THRESHOLDS) | {threshold})]
             if test_docs else [])
    # the test documents generated in site batches, scored in batch mode and each alone
    if batch_test and model.uses_repetition:
        card["test_batch_documents"] = {
            "documents": len(batch_test),
            "batch_mode": metrics_at(batch_test, scored_documents(model, batch_test), threshold,
                                     run_threshold=run).to_dict(),
            "alone": metrics_at(batch_test, scored_documents(model, batch_test, batch=False), threshold,
                                run_threshold=run).to_dict(),
        }
    if parent is not None:
        parent_test = (metrics_at(test_docs, scored_documents(parent, test_docs), parent.threshold,
                                  run_threshold=parent.run_threshold).to_dict()
                       if test_docs else None)
        card["parent"] = {"path": parent_path, "threshold": parent.threshold, "run_threshold": parent.run_threshold,
                          "test": parent_test}
    # 2. the shipped model: the same recipe refit on every document, with that threshold
    if refit:
        model = fit_filter(train_docs + for_members(val_docs + test_docs + batch_test), threshold=threshold,
                           members=members, **params)
        model.run_threshold = run
    else:
        model.threshold = threshold

    import numpy as np
    import sklearn

    card.update(
        threshold=threshold,
        run_threshold=run,
        trained_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        train_seconds=round(time.time() - started, 1),
        documents={"train": len(train_docs), "validation": len(val_docs), "test": len(test_docs),
                   "test_in_batches": len(batch_test)},
        versions={"python": platform.python_version(), "sklearn": sklearn.__version__, "numpy": np.__version__},
        metrics={
            "note": ("test and validation figures come from an evaluation model fit on the training side "
                     "only; the shipped model is the same recipe refit on all documents" if refit else
                     "test and validation figures are those of this model, fit on the training side only"),
            "test": test_metrics.to_dict() if test_metrics else None,
            "validation_sweep": [{"threshold": t, **m.to_dict()} for t, m in val_sweep],
            "validation_with_runs": val_with_runs.to_dict() if val_with_runs else None,
            "test_sweep": [{"threshold": t, **m.to_dict()} for t, m in sweep],
        },
    )
    if use_base:
        # the early exit's bounds, from documents no model part saw (see promofilter.early_exit)
        exit = calibrate_early_exit(model.classifier, load_corpus(corpus_dir), seed, min(EXIT_DOCS, n_train_docs))
        if exit is not None:
            card[EXIT_KEY] = exit.to_metadata()
    model.metadata.update(card)
    # realworld: a gold file to report on, None to use ../shared/realworld/dev.jsonl if present,
    # False to skip. It is only ever measured: nothing above looks at it.
    rw_path = Path(realworld) if realworld else (default_realworld() if realworld is None else None)
    if rw_path and rw_path.is_file():
        rw = realworld_section(model, rw_path)
        if rw:
            card["realworld"] = rw
    out = Path(out_dir) if out_dir else _repo_root() / "models"
    model.metadata = dict(card)
    save_model(model, out)
    card["out_dir"] = str(out)
    # the budget: a file of at most 20 MB that loads in at most 0.5 s
    from .persist import MODEL_FILE, load_model_file

    started_load = time.perf_counter()
    load_model_file(out)
    card["model_size"] = {"file": MODEL_FILE, "bytes": (out / MODEL_FILE).stat().st_size,
                          "load_seconds": round(time.perf_counter() - started_load, 3)}
    from .card import write_card

    write_card(out, card, test_scored and (test_docs, test_scored), plots=plots)
    return card
