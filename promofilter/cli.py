"""Command line: thin click commands over the library. Exit codes: 0 ok, 1 error in data, 2 usage."""
from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import nullcontext
from pathlib import Path

import click

from . import __version__
from .results import Kind, StripConfig

log = logging.getLogger("promofilter")

KIND_NAMES = [k.value for k in Kind.promo_kinds()]


class DataError(click.ClickException):
    """Bad input data: exit code 1 (usage errors exit 2)."""

    exit_code = 1


def _load(model_path: str | None, trust: bool):
    from . import load_model
    from .persist import ModelLoadError

    try:
        return load_model(model_path, trusted=trust)
    except ModelLoadError as e:
        raise DataError(str(e)) from None


def _read(source: str) -> str:
    from .textio import InputError, read_text

    try:
        return read_text(source)
    except InputError as e:
        raise DataError(str(e)) from None


def _json_line(obj: dict) -> str:
    """A JSON line, readable UTF-8 unless the text holds undecodable input bytes (then escaped)."""
    line = json.dumps(obj, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(obj)
    return line + "\n"


def _kinds(value: str | None) -> frozenset[Kind] | None:
    if not value:
        return None
    try:
        return frozenset(Kind(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"kinds are {', '.join(KIND_NAMES)}; got {value!r}") from None


def _config(threshold: float | None, remove: str | None, keep: str | None,
            config_path: str | None = None, run_threshold: float | None = None) -> StripConfig:
    """The config file (--config, else ./promofilter.toml if present), overridden by the flags."""
    import dataclasses

    from .config import ConfigError, find_config, load_config

    path = config_path or find_config()
    try:
        base = load_config(path) if path else StripConfig()
    except ConfigError as e:
        raise DataError(str(e)) from None
    if path:
        log.info("config: %s", path)
    kinds = set(_kinds(remove) or base.remove_kinds)
    kinds -= set(_kinds(keep) or ())
    return dataclasses.replace(base, threshold=base.threshold if threshold is None else threshold,
                               run_threshold=base.run_threshold if run_threshold is None else run_threshold,
                               remove_kinds=frozenset(kinds))


model_option = click.option("--model", "model_path", metavar="PATH", default=None,
                            help="Model directory (default: the shipped model).")
trust_option = click.option("--trust-model", is_flag=True,
                            help="Allow loading pickle/joblib models, which can run code. Only for files you trust.")
threshold_option = click.option("--threshold", type=click.FloatRange(0, 1), default=None,
                                help="Remove segments scoring at or above this (default: the model's).")
run_threshold_option = click.option(
    "--run-threshold", type=click.FloatRange(0, 1), default=None,
    help="A segment right after a removed one (or right before it on its line) is removed from this "
         "score on (default: the model's, "
         "unless --threshold is given; 1 turns it off).")
remove_option = click.option("--remove", metavar="KINDS", help="Only remove these kinds (comma-separated).")
keep_option = click.option("--keep", metavar="KINDS", help="Never remove these kinds, e.g. --keep credit,disclaimer.")
config_option = click.option("--config", "config_path", metavar="FILE.toml", type=click.Path(dir_okay=False),
                             help="Policy and rules (default: ./promofilter.toml if it exists).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promofilter")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
def cli(verbose: bool) -> None:
    """Find and strip promotional lines (ads, calls to action, cross-promotion, disclaimers,
    credits, boilerplate) from scraped articles, keeping every other character as it was."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


@cli.command()
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("-o", "--output", metavar="FILE", help="Write here (atomically) instead of stdout.")
@click.option("--in-place", is_flag=True, help="Rewrite each FILE with its clean version (atomically).")
@click.option("--backup", metavar="SUFFIX", help="With --in-place, first copy each FILE to FILE+SUFFIX.")
@threshold_option
@run_threshold_option
@remove_option
@keep_option
@config_option
@model_option
@trust_option
@click.option("--report", metavar="FILE.jsonl",
              help="Write one JSON line per removed span: source, record, start, end, score, kind, text.")
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl", "csv", "parquet"]), default=None,
              help="Input format (default: from the extension; .gz is read through).")
@click.option("--field", "--column", "field_name", default="text", show_default=True, metavar="NAME",
              help="The text field (JSONL) or column (CSV, Parquet) to clean.")
@click.option("--keep-original", metavar="NAME", help="Also keep the input text in this new field.")
@click.option("--on-error", type=click.Choice(["fail", "skip", "pass"]), default="fail", show_default=True,
              help="A record that cannot be read: stop with an error, skip it to --rejects, or pass it through unchanged.")
@click.option("--rejects", metavar="FILE", help="Where --on-error skip writes the skipped records.")
@click.option("-j", "--jobs", type=click.IntRange(1, None), default=1, show_default=True,
              help="Worker processes; the output is the same as with one.")
@click.option("--site-field", metavar="NAME", help="Field/column with each record's site, for rules limited to sites.")
@click.option("--site", metavar="NAME", help="The site of text inputs, for rules limited to sites.")
@click.option("--glob", "pattern", default="*", show_default=True, metavar="PATTERN",
              help="Files to take from directory inputs (searched recursively).")
@click.option("--dry-run", is_flag=True, help="Show what would be removed, write nothing.")
@click.option("--batch/--no-batch", default=False, show_default=True,
              help="Batch mode: all inputs of the run form one batch and segments repeated across its "
                   "documents (trailers, footers) count as evidence (two passes). Off by default: on the "
                   "team's real-world file it scored lower than documents alone, at half the speed.")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Clean a Parquet dataset on this Dask scheduler (tcp://HOST:8786) into -o OUTDIR.")
def strip(files, output, in_place, backup, threshold, run_threshold, remove, keep, config_path, model_path, trust_model, report, fmt,
          field_name, keep_original, on_error, rejects, jobs, site_field, site, pattern, dry_run,
          batch, dask_address) -> None:
    """Strip promotional segments from FILEs (or stdin) and write the clean text.

    With no FILE, or when FILE is -, read standard input. Text files are cleaned one by one and
    written one after another. JSONL, CSV and Parquet files (by extension or --format) are
    cleaned record by record, streaming: only the --field changes. A directory FILE stands for
    its files (recursively, --glob), written under -o OUTDIR with the same relative paths, or in
    place. Offsets in the report are character offsets into each input text.

    By default every document is scored alone. --batch (when the model supports it): every input
    of the run is read once to count which segments repeat across documents (per --site-field
    when given), then cleaned with those counts; the output does not depend on --jobs. Standard
    input is read once, so it is cleaned without batch counts.
    """
    from .batch import detect_format

    if in_place and (output or "-" in files):
        raise click.UsageError("--in-place rewrites the input files: it takes FILEs and no -o")
    if dask_address:
        _strip_dask(files, output, dask_address, field_name, threshold, remove, keep, config_path, model_path,
                    trust_model, batch, site_field, run_threshold)
        return
    if backup and not in_place:
        raise click.UsageError("--backup goes with --in-place")
    sources, targets = _expand(list(files) or ["-"], pattern, None if dry_run else output, in_place and not dry_run,
                               dry_run)
    if backup and not dry_run:
        _back_up(sources, backup)
    if on_error == "skip" and not rejects:
        raise click.UsageError("--on-error skip needs --rejects FILE, so skipped records are kept somewhere")
    formats = [detect_format(s, fmt) if s != "-" else (fmt or "text") for s in sources]
    config = _config(threshold, remove, keep, config_path, run_threshold)
    if jobs > 1:
        from .parallel import warm_up

        warm_up(jobs)
    if any(f != "text" for f in formats):
        if len(sources) > 1 and targets is None and not dry_run:
            raise click.UsageError("batch files (JSONL, CSV, Parquet) are cleaned one per run, "
                                   "or with --in-place, or from a directory into -o OUTDIR")
        if dry_run:
            output, report = os.devnull, "-"
        _strip_records(sources, formats, targets or [output] * len(sources), config, model_path, trust_model,
                       report, field_name, keep_original, on_error, rejects, jobs, site_field, site, batch)
        return
    _strip_texts(sources, output, targets, config, model_path, trust_model, report, jobs, site, dry_run,
                 batch)


def _strip_dask(files, output, address, field_name, threshold, remove, keep, config_path, model_path, trust,
                batch: bool = False, site_field: str | None = None, run_threshold: float | None = None) -> None:
    """A Parquet dataset (files, directories or globs) cleaned on a Dask cluster into OUTDIR."""
    if not files or not output:
        raise click.UsageError("--dask takes Parquet inputs (files, directories or globs) and -o OUTDIR")
    config = _config(threshold, remove, keep, config_path, run_threshold)
    if config.rules or config.kind_thresholds or not config.builtin_rules or config.run_threshold is not None:
        raise click.UsageError("--dask supports --threshold, --remove and --keep; rules, per-kind thresholds, "
                               "run thresholds and builtin_rules = false run in single-machine mode")
    try:
        import dask.dataframe as dd
        from distributed import Client
    except ImportError:
        raise click.UsageError("--dask needs Dask: pip install 'promofilter[dask]'") from None
    from . import default_model_path
    from .pipeline import strip_dask_column

    _load(model_path, trust)  # a bad model fails here, not on every worker
    path = str(model_path or default_model_path())
    with Client(address):
        try:
            ddf = dd.read_parquet(list(files))
        except Exception as e:  # dask and pyarrow raise many types for unreadable inputs
            raise DataError(f"cannot read Parquet from {', '.join(files)}: {e}") from None
        try:
            cleaned = strip_dask_column(ddf, field_name, path, trusted=trust, threshold=config.threshold,
                                        remove_kinds=[k.value for k in config.remove_kinds],
                                        batch=batch, site_column=site_field)
        except KeyError as e:
            raise DataError(str(e.args[0])) from None
        cleaned.to_parquet(output, write_index=False)
    click.echo(f"wrote {output} ({ddf.npartitions} partitions) on {address}", err=True)


def _back_up(sources: list[str], suffix: str) -> None:
    """Copy each file to FILE+SUFFIX (atomically, bytes and permissions) before it is rewritten."""
    import shutil

    from .textio import atomic_output

    for source in sources:
        try:
            with open(source, "rb") as src, atomic_output(source + suffix) as dst:
                shutil.copyfileobj(src, dst)
            shutil.copymode(source, source + suffix)
        except OSError as e:
            raise DataError(f"{source}: cannot back up to {source + suffix}: {e.strerror or e}") from None


def _expand(files: list[str], pattern: str, output: str | None, in_place: bool, dry_run: bool = False):
    """Input files (directories replaced by their files) and where each one goes: a list of
    target paths for --in-place or a directory input with -o OUTDIR, else None (one output)."""
    from pathlib import Path

    pairs = []  # (source, path relative to the output directory)
    has_dir = False
    for f in files:
        path = Path(f)
        if f != "-" and path.is_dir():
            has_dir = True
            found = sorted(p for p in path.rglob(pattern)
                           if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
            pairs += [(str(p), p.relative_to(path)) for p in found]
        else:
            pairs.append((f, Path(path.name)))
    if not pairs:
        raise DataError(f"no files matching {pattern!r} in {', '.join(files)}")
    sources = [s for s, _ in pairs]
    if in_place:
        return sources, sources
    if has_dir and not dry_run:
        if not output:
            raise click.UsageError("a directory input needs -o OUTDIR (or --in-place)")
        if Path(output).exists() and not Path(output).is_dir():
            raise click.UsageError(f"-o {output}: with a directory input, -o names a directory")
        targets = [Path(output) / rel for _, rel in pairs]
        if len(set(targets)) != len(targets):
            raise click.UsageError("two inputs would be written to the same file under -o OUTDIR")
        for t in targets:
            t.parent.mkdir(parents=True, exist_ok=True)
        return sources, [str(t) for t in targets]
    return sources, None


def _strip_texts(sources, output, targets, config, model_path, trust_model, report, jobs, site, dry_run,
                 batch: bool) -> None:
    from .parallel import Explainer, count_chunks
    from .reuse import reusing
    from .textio import write_text

    texts = [_read(s) for s in sources]  # read everything first: a bad file fails before any write
    model = _load(model_path, trust_model)
    per_chunk = max(1, min(64, len(texts) // (4 * jobs)))
    def chunks():
        return ((texts[i:i + per_chunk], [site] * len(texts[i:i + per_chunk])) for i in range(0, len(texts), per_chunk))

    counting = batch and model.uses_repetition and len(texts) >= 2
    # with one job, the counting pass's segments and keys serve the scoring pass
    with reusing() if counting and jobs == 1 else nullcontext():
        repetition = count_chunks(chunks(), min(jobs, len(texts))) if counting else None
        explainer = Explainer(model, config, min(jobs, len(texts)), model_path, trust_model, repetition)
        results = [r for chunk in explainer.map(chunks()) for r in chunk]
    if dry_run:
        for source, result in zip(sources, results):
            for span in result.removed:
                where = f"{'<stdin>' if source == '-' else source}:{span.start}-{span.end}"
                shown = " ".join(span.text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").split())
                click.echo(f"{where} {span.kind.value} {span.score:.3f} " + click.style(shown, fg="red", bold=True))
        click.echo(f"{sum(len(r.removed) for r in results)} spans would be removed; nothing written", err=True)
        return
    if targets:
        for target, result in zip(targets, results):
            write_text(target, result.text)
    else:
        write_text(output, "".join(r.text for r in results))
    if report:
        write_text(report, "".join(line for source, result in zip(sources, results)
                                   for line in _report_lines(source, result)))


def _report_lines(source: str, result) -> list[str]:
    """One JSON line per removed span of one text input."""
    return [_json_line({"source": "<stdin>" if source == "-" else source, "start": span.start, "end": span.end,
                        "score": round(span.score, 4), "kind": span.kind.value, "decision": span.decision.value,
                        "rule": span.rule, "text": span.text,
                        **({} if span.score_alone is None else
                           {"score_alone": round(span.score_alone, 4), "by_repetition": span.by_repetition})})
            for span in result.removed]


def _strip_records(sources, formats, targets, config, model_path, trust_model, report,
                   field_name, keep_original, on_error, rejects, jobs, site_field, site, batch: bool) -> None:
    import contextlib

    from .batch import RecordError, clean_records, count_repetition, open_output
    from .reuse import reusing

    model = _load(model_path, trust_model)
    # with one job, the counting pass's segments and keys serve the cleaning pass (for the first
    # reuse.MAX_CHARS characters of the input)
    counting = batch and model.uses_repetition
    try:
        with reusing() if counting and jobs == 1 else nullcontext():
            repetition = (count_repetition(sources, formats, field_name, site_field, site, jobs)
                          if counting else None)
            with contextlib.ExitStack() as stack:
                report_file = stack.enter_context(open_output(report)) if report else None
                rejects_file = stack.enter_context(open_output(rejects)) if rejects else None
                for source, fmt, target in zip(sources, formats, targets):
                    if fmt == "text":  # a mix of text and record files (in place or into a directory)
                        from .textio import write_text
                        result = next(model.explain_many([_read(source)], config, [site], repetition))
                        write_text(target, result.text)
                        if report_file is not None:
                            report_file.write("".join(_report_lines(source, result)).encode("utf-8", "surrogateescape"))
                        continue
                    stats = clean_records(source, target, fmt, field_name, model, config,
                                          on_error=on_error, rejects=rejects_file, report=report_file,
                                          keep_original=keep_original, jobs=jobs, model_path=model_path,
                                          trusted=trust_model, site_field=site_field,
                                          progress=sys.stderr.isatty(), repetition=repetition)
                    click.echo(f"{source}: {stats.summary()}", err=True)
    except RecordError as e:
        raise DataError(str(e)) from None


@cli.command()
@click.argument("file", default="-", metavar="[FILE]")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per segment instead of a table.")
@threshold_option
@run_threshold_option
@remove_option
@keep_option
@config_option
@model_option
@trust_option
@click.option("--site", metavar="NAME", help="The site of FILE, for rules limited to sites.")
def detect(file, as_json, threshold, run_threshold, remove, keep, config_path, model_path, trust_model, site) -> None:
    """Show every segment of FILE (or stdin) with its promo score and kind, removed or not, and
    what decided: the model, or a block or allow rule (named)."""
    config = _config(threshold, remove, keep, config_path, run_threshold)
    text = _read(file)
    model = _load(model_path, trust_model)
    spans = model.detect(text, config, site)
    out = sys.stdout
    if as_json:
        for s in spans:
            out.write(_json_line(s.to_dict()))
        return
    out.write(f"{'start':>7} {'end':>7} {'score':>6} {'kind':<11} {'action':<7} text\n")
    for s in spans:
        # undecodable input bytes are shown as U+FFFD in the table (the JSON output keeps them)
        snippet = " ".join(s.text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").split())
        snippet = snippet if len(snippet) <= 70 else snippet[:67] + "..."
        action = "REMOVE" if s.removed else "keep"
        if s.rule:
            action += f" rule:{s.rule}"
        kind = s.kind.value if s.score >= 0.5 or s.removed else "-"
        out.write(f"{s.start:>7} {s.end:>7} {s.score:>6.3f} {kind:<11} {action:<7} {snippet}\n")


@cli.command("eval")
@click.argument("data", nargs=-1, required=True, metavar="GOLD.jsonl...")
@model_option
@trust_option
@click.option("--compare", "compare_path", metavar="DIR", help="A second model, shown side by side.")
@threshold_option
@click.option("--sweep", is_flag=True, help="Also show every threshold from 0.05 to 0.95.")
@click.option("--json", "as_json", is_flag=True, help="The figures as one JSON object.")
@click.option("--batch", is_flag=True,
              help="Score each file as one batch (repetition across its documents, per their 'site').")
def eval_command(data, model_path, trust_model, compare_path, threshold, sweep, as_json, batch) -> None:
    """Measure a model on labelled documents (JSONL: text, promo_spans [[start, end, kind], ...]).

    Precision and recall over promo characters, content loss over article characters, the share
    of documents that lose a whole article word, recall per kind; --compare shows two models.
    Documents are scored alone unless --batch.
    """
    from .build import BuildError, load_gold_documents
    from .training import evaluate_model

    try:
        # without --batch every document is scored alone, whatever "batch" field a file carries
        docs = [{k: v for k, v in d.items() if k != "batch"} | ({"batch": path} if batch else {})
                for path in data for d in load_gold_documents(path)]
    except BuildError as e:
        raise DataError(str(e)) from None
    models = {"model": model_path or "shipped"}
    if compare_path:
        models["compare"] = compare_path
    results = {name: evaluate_model(_load(None if path == "shipped" else path, trust_model), docs,
                                    threshold, sweep) | {"path": path}
               for name, path in models.items()}
    if as_json:
        click.echo(json.dumps({"documents": len(docs), **results}, indent=1))
        return
    rows = [("threshold", "{:.2f}", lambda r: r["threshold"])]
    for key in ("precision", "recall", "f1", "content_loss", "lossy_docs"):
        rows.append((key, "{:.2%}" if key in ("content_loss", "lossy_docs") else "{:.3f}",
                     lambda r, key=key: r["metrics"][key]))
    kinds = sorted({k for r in results.values() for k in r["metrics"]["per_kind_recall"]})
    for kind in kinds:
        rows.append((f"recall {kind}", "{:.3f}", lambda r, kind=kind: r["metrics"]["per_kind_recall"].get(kind, float("nan"))))
    click.echo(f"{len(docs)} documents{' (each file one batch)' if batch else ''}; "
               + "; ".join(f"{n}: {r['path']}" for n, r in results.items()))
    click.echo(f"{'':<20}" + "".join(f"{n:>12}" for n in results))
    for label, fmt, get in rows:
        click.echo(f"{label:<20}" + "".join(f"{fmt.format(get(r)):>12}" for r in results.values()))
    if sweep:
        for name, r in results.items():
            click.echo(f"\n{name}: threshold  precision  recall     f1  content_loss  lossy_docs")
            for m in r["sweep"]:
                click.echo(f"{'':>{len(name) + 2}}{m['threshold']:>9.2f} {m['precision']:>10.3f} {m['recall']:>7.3f} "
                           f"{m['f1']:>6.3f} {m['content_loss']:>13.2%} {m['lossy_docs']:>11.2%}")


@cli.command()
@click.argument("corpus", nargs=-1, required=True, metavar="CORPUS...")
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl", "csv", "parquet"]), default=None,
              help="Input format (default: from the extension).")
@click.option("--field", "--column", "field_name", default="text", show_default=True, metavar="NAME")
@click.option("--min-docs", type=click.IntRange(2, None), default=3, show_default=True,
              help="Only templates found in at least this many documents.")
@click.option("-o", "--output", metavar="FILE.csv", help="Write the CSV here (atomically) instead of stdout.")
@click.option("--no-model", is_flag=True, help="Count only; do not score templates with the model.")
@model_option
@trust_option
def mine(corpus, fmt, field_name, min_docs, output, no_model, model_path, trust_model) -> None:
    """Find lines and sentences that repeat across documents of CORPUS, folded into templates
    (numbers, URLs, handles, names masked), ranked by documents and model uncertainty.

    Writes a CSV (template, documents, occurrences, mean_score, model_kind, text, label, kind):
    fill label (promo/content) and kind, and feed it to `promofilter train`.
    """
    import csv
    import io

    from .batch import RecordError, detect_format, iter_texts
    from .mining import mine as mine_templates
    from .textio import write_text

    model = None if no_model else _load(model_path, trust_model)

    def texts():
        for path in corpus:
            yield from iter_texts(path, detect_format(path, fmt) if path != "-" else (fmt or "text"), field_name)

    try:
        mined = mine_templates(texts(), model, min_docs=min_docs)
    except RecordError as e:
        raise DataError(str(e)) from None
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(mined[0].to_row()) if mined else ["template"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(m.to_row() for m in mined)
    write_text(output, buffer.getvalue())
    click.echo(f"{len(mined)} templates in at least {min_docs} documents", err=True)


@cli.command()
@click.argument("samples", nargs=-1, metavar="[SAMPLES]...")
@click.option("--base", is_flag=True, help="Train on the shipped authored corpus (plus SAMPLES, if any).")
@click.option("--out", "out_dir", metavar="DIR", default=None,
              help="Write the model here instead of as a new version (see `promofilter models`).")
@click.option("--corpus", "corpus_dir", metavar="DIR", default=None, help="Authored corpus directory.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the document generator.")
@click.option("--realworld", metavar="GOLD.jsonl", default=None,
              help="Also score the model on this gold file with the team scorer (evaluation only).")
@click.option("--max-loss-rise", type=float, default=0.0005, show_default=True,
              help="A new version becomes current only if its held-out content loss is at most the "
                   "parent's plus this (0.0005 = 0.05 points).")
@click.option("--force", is_flag=True, help="Make the new version current even if it fails that check.")
@click.option("--quick", is_flag=True,
              help="A quick retrain (about 80 s here): 2000 generated training documents instead "
                   "of 6000 and no refit on the held-out documents (the written model is the one "
                   "measured); less accurate than the full recipe (see the README).")
@click.option("--batch-share", type=click.FloatRange(0, 5), default=None,
              help="With --base, generated site-batch documents per document alone, for the batch head "
                   "(default 1.0, the shipped recipe; 0: no batch mode; see README, batch mode).")
@click.option("--members", type=click.IntRange(1, 9), default=None,
              help="With --base, members of an averaged model, each trained on its own draw of generated "
                   "documents (default: the shipped recipe's; each member adds to training time and "
                   "scoring time).")
def train(samples, base, out_dir, corpus_dir, seed, realworld, max_loss_rise, force, quick, batch_share,
          members) -> None:
    """Train a model on the authored corpus (--base) and/or labelled SAMPLES (gold JSONL documents,
    or segment rows in CSV/Parquet/JSONL with text, label, kind), evaluate it on held-out data
    beside its parent (the current model), and write it as a new version; it becomes current
    unless it loses more article text than its parent."""
    from . import default_model_path
    from .build import QUICK, BuildError, build_model
    from .registry import new_version_dir, set_current

    if not base and not samples:
        raise click.UsageError("give SAMPLES to train on, --base for the authored corpus, or both")
    parent_path = default_model_path()
    parent = _load(str(parent_path), False)
    target = out_dir or str(new_version_dir())
    try:
        card = build_model(out_dir=target, corpus_dir=corpus_dir if base or corpus_dir else None,
                           use_base=base, samples=list(samples), seed=seed, realworld=realworld,
                           command=" ".join(["promofilter", *sys.argv[1:]]), parent=parent,
                           parent_path=str(parent_path), **(QUICK if quick else {}),
                           **({} if batch_share is None else {"batch_share": batch_share}),
                           **({} if members is None else {"members": members}))
    except BuildError as e:
        raise DataError(str(e)) from None
    test, before = card["metrics"]["test"], card["parent"]["test"]
    if test:
        click.echo(f"model written to {card['out_dir']}: threshold {card['threshold']}, held-out F1 "
                   f"{test['f1']:.3f}, content loss {test['content_loss']:.4%}", err=True)
    if before:
        click.echo(f"parent {parent_path}: held-out F1 {before['f1']:.3f}, content loss "
                   f"{before['content_loss']:.4%}", err=True)
    if out_dir:
        return
    name = Path(target).name
    if not (test and before):
        verdict = "no held-out documents to compare it with its parent"
    elif test["content_loss"] > before["content_loss"] + max_loss_rise:
        verdict = (f"it loses more article text than its parent ({test['content_loss']:.4%} > "
                   f"{before['content_loss']:.4%} + {max_loss_rise:.4%})")
    else:
        verdict = None
    if verdict and not force:
        click.echo(f"{name} was NOT made current: {verdict}. Use it with --model {target}, or "
                   f"`promofilter models use {name}`, or retrain with --force.", err=True)
        return
    set_current(name)
    click.echo(f"{name} is now the current model" + (f" (forced: {verdict})" if verdict else ""), err=True)


@cli.command()
@click.option("--promo", "promos", multiple=True, metavar="TEXT", help="A promo line to remove from now on (repeatable).")
@click.option("--keep", "keeps", multiple=True, metavar="TEXT", help="A line that is article text (repeatable).")
@click.option("--kind", type=click.Choice([k.value for k in Kind.promo_kinds()]), default="ad", show_default=True,
              help="Kind of the --promo examples.")
@click.option("--from", "from_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
              help="More examples, one per line: '+ TEXT' for promo, '- TEXT' for keep.")
@click.option("--max-loss-rise", type=float, default=0.0005, show_default=True,
              help="Content-loss rise over the base model (on held-out documents) beyond which the "
                   "new version is not made current.")
@click.option("--force", is_flag=True, help="Make the new version current even if it fails that check.")
def learn(promos, keeps, kind, from_file, max_loss_rise, force) -> None:
    """Teach the model: --promo lines to remove, --keep lines to leave. The examples are stored
    (see `promofilter learned`), every stored example is folded into the base model in seconds,
    and the result becomes a new current version if it loses no more article text than its base."""
    from .learning import add_learned, learned_samples

    promos, keeps = list(promos), list(keeps)
    if from_file:
        for no, line in enumerate(_read(from_file).splitlines(), 1):
            if not line.strip():
                continue
            if line[:2] not in ("+ ", "- "):
                raise DataError(f"{from_file}:{no}: a line starts with '+ ' (promo) or '- ' (keep)")
            (promos if line[0] == "+" else keeps).append(line[2:])
    if not promos and not keeps:
        raise click.UsageError("give --promo TEXT, --keep TEXT or --from FILE")
    if any(not t.strip() for t in promos + keeps):
        raise click.UsageError("an empty example teaches nothing")
    try:
        base = _learning_base()
    except ValueError as e:  # an unreadable store of learned examples
        raise DataError(str(e)) from None
    try:
        add_learned(promos, "promo", kind, base)
        add_learned(keeps, "content", None, base)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    base, samples = learned_samples()
    _apply_learned(base, samples, max_loss_rise, force)


def _learning_base() -> str:
    """The model learned examples correct: the stored base, else the current default model."""
    from . import default_model_path
    from .learning import learned_samples

    base, _ = learned_samples()
    return base or str(default_model_path())


def _apply_learned(base, samples, max_loss_rise, force) -> None:
    from .learning import apply_learned

    result = apply_learned(base, samples, max_loss_rise, force, " ".join(["promofilter", *sys.argv[1:]]))
    before, after = result["before"], result["after"]
    click.echo(f"{len(samples)} learned examples folded into {base} in {result['seconds']} s", err=True)
    click.echo(f"held-out documents: F1 {before['f1']:.3f} -> {after['f1']:.3f}, content loss "
               f"{before['content_loss']:.4%} -> {after['content_loss']:.4%}", err=True)
    for text in result["misses"]:
        click.echo(f"still not as taught: {text}", err=True)
    if result["made_current"]:
        click.echo(f"{result['name']} is now the current model" +
                   (f" (forced: {result['verdict']})" if result["verdict"] else ""), err=True)
    else:
        click.echo(f"{result['name']} was NOT made current: {result['verdict']}. Use it with --model "
                   f"{result['path']}, or `promofilter models use {result['name']}`, or --force.", err=True)
        raise SystemExit(DataError.exit_code)


@cli.command()
@click.argument("texts", nargs=-1, metavar="[TEXT]...")
@click.option("--all", "forget_all", is_flag=True, help="Forget every learned example.")
def forget(texts, forget_all) -> None:
    """Forget learned examples (exact texts, as `promofilter learned` lists them) and retrain from
    the base model; with none left, the base model is current again."""
    from .learning import forget_learned
    from .registry import SHIPPED, models_root, set_current

    if bool(texts) == forget_all:
        raise click.UsageError("give the TEXTs to forget, or --all")
    try:
        base, remaining, removed = forget_learned(None if forget_all else list(texts))
    except ValueError as e:  # an unreadable store of learned examples
        raise DataError(str(e)) from None
    if not removed:
        raise DataError("no learned example matches (see `promofilter learned`)")
    click.echo(f"forgot {removed} example(s); {len(remaining)} left", err=True)
    if remaining:
        _apply_learned(base, remaining, 0.0005, True)
        return
    if base is None:
        return
    base_path = Path(base)
    name = base_path.name if base_path.parent == models_root() else SHIPPED
    set_current(name)
    click.echo(f"current model: {name} (the base, with nothing learned)", err=True)


@cli.command()
def learned() -> None:
    """List the learned examples ('+' promo, '-' keep) and the base model they correct."""
    from .learning import learned_samples

    try:
        base, samples = learned_samples()
    except ValueError as e:  # an unreadable store of learned examples
        raise DataError(str(e)) from None
    for s in samples:
        click.echo(f"{'+' if s.label == 'promo' else '-'} {s.text}" + (f"\t[{s.kind}]" if s.label == "promo" else ""))
    click.echo(f"{len(samples)} learned example(s)" + (f"; base model {base}" if base else ""), err=True)


@cli.group(invoke_without_command=True)
@click.pass_context
def models(ctx) -> None:
    """List trained model versions (the current one marked *), or switch with `models use`."""
    if ctx.invoked_subcommand:
        return
    from .registry import models_root, versions

    found = versions()
    current = next((v for v in found if v.current), None)
    click.echo(f"{'':2}{'version':<22}{'trained':<22}{'threshold':>10}{'F1':>8}{'content loss':>14}  parent")
    click.echo(f"{'*' if current is None else '':2}{'shipped':<22}{'':<22}{'':>10}{'':>8}{'':>14}")
    for v in found:
        test = (v.card.get("metrics") or {}).get("test") or {}
        parent = (v.card.get("parent") or {}).get("path") or ""
        f1 = f"{test['f1']:.3f}" if "f1" in test else "-"
        loss = f"{test['content_loss']:.3%}" if "content_loss" in test else "-"
        click.echo(f"{'*' if v.current else '':2}{v.name:<22}{v.card.get('trained_at', ''):<22}"
                   f"{v.card.get('threshold', ''):>10}{f1:>8}{loss:>14}  {Path(parent).name if parent else ''}")
    click.echo(f"(versions in {models_root()})", err=True)


@models.command("use")
@click.argument("name")
def models_use(name) -> None:
    """Make version NAME the current model (`shipped` for the shipped one)."""
    from .registry import set_current

    try:
        set_current(name)
    except KeyError as e:
        raise DataError(str(e.args[0])) from None
    click.echo(f"current model: {name}", err=True)


def main() -> None:
    try:
        cli.main(prog_name="promofilter", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()


@cli.group()
def rules() -> None:
    """Work with block and allow rules (see promofilter.toml in the README)."""


@rules.command("test")
@click.argument("rules_file", metavar="RULES.toml", type=click.Path(dir_okay=False))
@click.argument("file", default="-", metavar="[FILE]")
def rules_test(rules_file, file) -> None:
    """Show what each rule of RULES.toml matches in FILE (or stdin), segment by segment.

    No model is used: this shows the rules alone. Allow rules win over block rules.
    """
    from .config import ConfigError, load_config
    from .rules import verdict
    from .segment import segment

    try:
        config = load_config(rules_file)
    except ConfigError as e:
        raise DataError(str(e)) from None
    text = _read(file)
    segments = [s for s in segment(text) if s.content_end > s.content_start]
    out = sys.stdout
    for rule in config.rules:
        hits = [s for s in segments if rule.matches(text[s.content_start:s.content_end])]
        out.write(f"{rule.name} ({rule.action}, {rule.syntax}): {len(hits)} segment(s)\n")
        for s in hits:
            decided = verdict(config.rules, text[s.content_start:s.content_end])
            note = "" if decided is rule else f"  [overridden by {decided.name}]"
            snippet = " ".join(text[s.content_start:s.content_end].split())
            snippet = snippet if len(snippet) <= 70 else snippet[:67] + "..."
            out.write(f"  {s.content_start:>7} {s.content_end:>7}  {snippet}{note}\n")
