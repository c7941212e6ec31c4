"""Model card: the JSON and Markdown description of a trained model, with its plots."""
from __future__ import annotations

import json
from pathlib import Path

from .textio import atomic_write

__all__ = ["write_card"]


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def _plots(out: Path, card: dict, scored_test) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    import numpy as np

    written = []
    sweep = card["metrics"]["test_sweep"]
    if sweep:
        fig, ax = plt.subplots(figsize=(6, 4))
        t = [row["threshold"] for row in sweep]
        ax.plot(t, [row["precision"] for row in sweep], label="precision")
        ax.plot(t, [row["recall"] for row in sweep], label="recall")
        ax.plot(t, [row["f1"] for row in sweep], label="F1")
        ax.plot(t, [10 * row["content_loss"] for row in sweep], label="content loss ×10")
        ax.axvline(card["threshold"], color="grey", linestyle=":", label="shipped threshold")
        ax.set_xlabel("threshold")
        ax.set_title("Test split: precision / recall vs threshold")
        ax.legend(loc="lower left", fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "pr_curve.png", dpi=100)
        plt.close(fig)
        written.append("pr_curve.png")
    if scored_test:
        from .training import label_documents

        docs, scored = scored_test
        _, labels = label_documents(docs)
        scores = np.concatenate([s.scores for s in scored]) if scored else np.zeros(0)
        promo = labels != "content"
        fig, ax = plt.subplots(figsize=(6, 4))
        bins = np.linspace(0, 1, 41)
        ax.hist(scores[~promo], bins=bins, alpha=0.6, label="content segments", log=True)
        ax.hist(scores[promo], bins=bins, alpha=0.6, label="promo segments", log=True)
        ax.axvline(card["threshold"], color="grey", linestyle=":")
        ax.set_xlabel("promo score")
        ax.set_title("Test split: score histogram")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "score_histogram.png", dpi=100)
        plt.close(fig)
        written.append("score_histogram.png")
    return written


def _runs_on_validation(card: dict) -> str:
    """What the runs change on the validation documents, at the chosen threshold ("" without runs)."""
    with_runs = card["metrics"].get("validation_with_runs")
    without = next((row for row in card["metrics"].get("validation_sweep", [])
                    if row["threshold"] == card["threshold"]), None)
    if not with_runs or not without:
        return ""
    return (f" On the validation documents the runs take F1 from {without['f1']:.3f} to {with_runs['f1']:.3f} "
            f"and content loss from {_pct(without['content_loss'])} to {_pct(with_runs['content_loss'])}.")


def _markdown(card: dict) -> str:
    m = card["metrics"]["test"] or {}
    lines = [
        "# promofilter model card",
        "",
        f"Trained {card.get('trained_at')} in {card.get('train_seconds')} s with `{card.get('command') or 'build_model'}`.",
        f"Versions: {', '.join(f'{k} {v}' for k, v in card.get('versions', {}).items())}.",
        "",
        "## Data",
    ]
    corpus = card.get("corpus")
    if corpus:
        lines += [
            f"Authored corpus sha256 `{corpus['sha256']}`: {corpus['articles']} articles in {corpus['domains']} domains, "
            f"{corpus['promo_templates']} promo templates in {corpus['promo_families']} families, "
            f"{corpus['hard_negatives']} hard negatives.",
            f"Test split: {corpus['test_articles']} articles and {corpus['test_families']} promo families that "
            "appear in no training or validation document.",
        ]
    for name, sha in card.get("inputs_sha256", {}).items():
        lines.append(f"Sample file `{name}` sha256 `{sha}`.")
    docs = card.get("documents", {})
    lines += [
        f"Generated documents: {docs.get('train')} train, {docs.get('validation')} validation "
        f"(threshold choice), {docs.get('test')} test (seed {card.get('seed')})"
        + (f"; {docs['test_in_batches']} more test documents in site batches (batch mode, below)."
           if docs.get("test_in_batches") else "."),
    ]
    if (card.get("members") or 1) > 1:
        lines.append(f"An averaged model of {card['members']} members: each trained on its own draw of generated "
                     "training documents (the train count above is their total), all sharing the validation and "
                     "test documents; a segment's score is the members' mean, its kind the first member's.")
    lines += [
        "",
        "## Test split (held-out articles and promo families)",
        "",
        f"Threshold **{card['threshold']}**"
        + " (best validation F1 with validation content loss ≤ 0.2 %)"
        + (f"; run threshold **{card['run_threshold']}** (fixed: a segment right after a removed one, or right "
           "before it on its line, is removed from this score on)" if card.get("run_threshold") is not None else "")
        + "."
        + _runs_on_validation(card),
        ("These figures come from an *evaluation model* fit on the training side only (no test or validation "
         "article, promo family or hard negative); the shipped model is the same recipe refit on all "
         "documents with the same threshold." if card.get("refit") else
         "These figures are this model's: it was fit on the training side only (no test or validation "
         "article, promo family or hard negative)."),
        "",
        "| precision | recall | F1 | content loss | docs losing a word |",
        "| --- | --- | --- | --- | --- |",
        f"| {m.get('precision', 0):.3f} | {m.get('recall', 0):.3f} | {m.get('f1', 0):.3f} | "
        f"{_pct(m.get('content_loss'))} | {_pct(m.get('lossy_docs'))} |",
        "",
        "Recall per kind: " + ", ".join(f"{k} {v:.3f}" for k, v in m.get("per_kind_recall", {}).items()),
        "",
        "### False-removal budget",
        "",
        f"At the shipped threshold the model removes {_pct(m.get('content_loss'))} of editorial characters "
        f"on held-out documents, and {_pct(m.get('lossy_docs'))} of documents lose at least one editorial word.",
    ]
    rw = card.get("realworld")
    if rw:
        o = rw["scores"]["overall"]
        lines += [
            "",
            f"### Real-world evaluation of the shipped model (`{rw['file']}`, team scorer, never trained or tuned on)",
            "",
            "| precision | recall | F1 | content loss | docs losing a word |",
            "| --- | --- | --- | --- | --- |",
            f"| {o['precision'] or 0:.3f} | {o['recall']:.3f} | {o['f1']:.3f} | {_pct(o['content_loss'])} | "
            f"{_pct(o['lossy_rate'])} |",
            "",
            "Recall per kind: " + ", ".join(f"{k} {v['recall']:.3f}" for k, v in rw["scores"].get("per_kind", {}).items()
                                            if v.get("recall") is not None),
        ]
        again = rw.get("remeasured")
        if again:  # (training/remeasure_realworld.py: same arrays, newer stripping code)
            lines += ["", f"Re-measured on {again['at'][:10]} with the code of `{again.get('code')}`, the model "
                      f"unchanged: {again['why']} The test and validation figures above are the build's."]
    if rw and rw.get("scores_batch"):
        o = rw["scores_batch"]["overall"]
        lines += ["", "The same file as **one batch** (batch mode: repetition across its documents, per site):", "",
                  "| precision | recall | F1 | content loss | docs losing a word |", "| --- | --- | --- | --- | --- |",
                  f"| {o['precision'] or 0:.3f} | {o['recall']:.3f} | {o['f1']:.3f} | {_pct(o['content_loss'])} | "
                  f"{_pct(o['lossy_rate'])} |"]
    batch = card.get("test_batch_documents")
    if batch:
        lines += ["", f"### Batch mode on the {batch['documents']} test documents generated in site batches", "",
                  "| scored | precision | recall | F1 | content loss | docs losing a word |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name in ("alone", "batch_mode"):
            b = batch[name]
            lines.append(f"| {name.replace('_', ' ')} | {b['precision']:.3f} | {b['recall']:.3f} | {b['f1']:.3f} | "
                         f"{_pct(b['content_loss'])} | {_pct(b['lossy_docs'])} |")
    learned = card.get("learned_examples")
    if learned:
        before = (card.get("parent") or {}).get("test") or {}
        lines += ["", f"## Learned examples ({len(learned)}), folded into `{(card.get('parent') or {}).get('path')}`", "",
                  f"Held-out figures above: {card['metrics'].get('note', '')}. Base model on the same documents: "
                  f"F1 {before.get('f1', 0):.3f}, content loss {_pct(before.get('content_loss'))}.", ""]
        lines += [f"- {'promo' if x['label'] == 'promo' else 'keep'} ({x['kind']}): {x['text']}" for x in learned]
    lines += ["", "## Threshold sweep (test split)", "",
              "Each threshold alone, as `--threshold` removes (no runs).", "",
              "| threshold | precision | recall | F1 | content loss | lossy docs |", "| --- | --- | --- | --- | --- | --- |"]
    for row in card["metrics"].get("test_sweep", []):
        lines.append(f"| {row['threshold']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
                     f"{_pct(row['content_loss'])} | {_pct(row['lossy_docs'])} |")
    lines += ["", "## Parameters", "", f"`{json.dumps(card.get('params') or {})}` (defaults of `PromoClassifier` otherwise)", ""]
    exit = card.get("early_exit")
    if exit:
        lines += [f"Early exit when stripping: segments whose sum over the first {exit['trees']} trees of stage 2 is under "
                  f"the bound for the lowest threshold in play stop there (calibrated on {exit['documents']} generated "
                  f"documents, {exit['segments']} segments; margin {exit['margin']} in log-odds; see "
                  "`promofilter/early_exit.py`). Bounds (floor: log-odds): "
                  + ", ".join(f"{f}: {b:.2f}" for f, b in exit["bounds"]) + ".", ""]
    file = card.get("model_size")  # (not "model_file": model.json names the file there)
    if file:
        lines += [f"Model file `{file['file']}`: {file['bytes'] / 1e6:.1f} MB; loading it took {file['load_seconds']:.2f} s "
                  "(in the building process, scikit-learn already imported).", ""]
    for png in card.get("plots", []):
        lines.append(f"![{png}]({png})")
    return "\n".join(lines) + "\n"


def write_card(out: Path, card: dict, scored_test=None, plots: bool = True) -> None:
    out = Path(out)
    card["plots"] = _plots(out, card, scored_test) if plots else []
    atomic_write(out / "model_card.json", (json.dumps(card, indent=2, sort_keys=True, default=str) + "\n").encode())
    atomic_write(out / "MODEL_CARD.md", _markdown(card).encode())
