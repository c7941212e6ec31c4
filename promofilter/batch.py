"""Batch files: clean one text field of every record of a JSONL, CSV or Parquet file, streaming.

Records are read and cleaned in chunks, so memory stays bounded by the chunk size, and written to
a temporary file that replaces the output only when the whole file succeeded. Only the named field
changes; other fields and the record order are kept (JSONL lines are re-serialised, CSV values are
read and written as strings, Parquet keeps its schema). A record whose field is null is written
unchanged. A record that cannot be read (malformed JSON, not an object, no such field, not text)
is an error naming the file and line, or, by ``on_error``, is skipped to a rejects file or passed
through unchanged: never dropped silently.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator, Sequence

from . import native
from .parallel import Explainer
from .results import StripConfig, Stripped
from .stripping import _batched
from .textio import atomic_output

__all__ = ["FORMATS", "detect_format", "clean_records", "iter_texts", "open_output", "BatchStats", "RecordError"]

FORMATS = ("text", "jsonl", "csv", "parquet")
ON_ERROR = ("fail", "skip", "pass")
# Records per chunk: 256 keeps one job under 300 MB peak RSS (512: 310 MB) at the same speed.
CHUNK = 256
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _a(noun: str) -> str:
    """``noun`` with its indefinite article ("an int", "a list")."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


class RecordError(ValueError):
    """A record (or a whole batch file) that cannot be cleaned; the message names where."""


@dataclass
class BatchStats:
    """What a batch run did: records seen, cleaned, passed through and skipped; spans by kind."""

    records: int = 0
    cleaned: int = 0
    passed: int = 0
    skipped: int = 0
    chars_removed: int = 0
    spans_by_kind: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.spans_by_kind.items())) or "none"
        return (f"{self.records} records: {self.cleaned} cleaned, {self.passed} passed through, "
                f"{self.skipped} skipped; spans removed: {kinds}; {self.chars_removed} characters removed")


def detect_format(path: str, override: str | None = None) -> str:
    """``text``, ``jsonl``, ``csv`` or ``parquet``: ``override`` if given, else from the extension
    (a ``.gz`` suffix is looked through)."""
    if override:
        if override not in FORMATS:
            raise ValueError(f"unknown format {override!r} (formats: {', '.join(FORMATS)})")
        return override
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _EXTENSIONS.get(suffixes[-1] if suffixes else "", "text")


def _is_gz(path: str) -> bool:
    return str(path).lower().endswith(".gz")


@contextlib.contextmanager
def _open_in(path: str) -> Iterator[IO[bytes]]:
    try:
        if path == "-":
            yield sys.stdin.buffer
        elif _is_gz(path):
            with gzip.open(path, "rb") as f:
                yield f
        else:
            with open(path, "rb") as f:
                yield f
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        raise RecordError(f"{path}: {e.strerror or e}") from None
    except gzip.BadGzipFile as e:
        raise RecordError(f"{path}: not a gzip file ({e})") from None


@contextlib.contextmanager
def open_output(path: str | None) -> Iterator[IO[bytes]]:
    """A binary output: stdout for None or ``-``, else an atomically replaced file (gzip for .gz)."""
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with atomic_output(path) as raw:
        if _is_gz(path):
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
                yield f
        else:
            yield raw


class _Run:
    """Shared bookkeeping of one file: errors by policy, the report, the statistics."""

    def __init__(self, source: str, on_error: str, rejects: IO[bytes] | None, report: IO[bytes] | None,
                 progress: bool = False):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, not {on_error!r}")
        if on_error == "skip" and rejects is None:
            raise ValueError("on_error='skip' needs a rejects file: skipped records are kept there")
        self.source, self.on_error, self.rejects, self.report = source, on_error, rejects, report
        self.stats = BatchStats()
        self.progress, self.started, self.shown, self.chars_in = progress, time.monotonic(), 0.0, 0

    def bad(self, where: str, problem: str, raw: bytes | None) -> bool:
        """Handle an unreadable record; True when it is to be written through unchanged."""
        if self.on_error == "fail":
            raise RecordError(f"{self.source}:{where}: {problem}")
        if self.on_error == "skip":
            self.stats.skipped += 1
            if raw is not None:
                self.rejects.write(raw if raw.endswith(b"\n") else raw + b"\n")
            return False
        self.stats.passed += 1
        return True

    def show(self, final: bool = False) -> None:
        """A one-line progress display on stderr (a terminal): records, MB/s, spans removed."""
        if not self.progress:
            return
        now = time.monotonic()
        if not final and now - self.shown < 0.5:
            return
        self.shown = now
        rate = self.chars_in / 1e6 / max(now - self.started, 1e-9)
        spans = sum(self.stats.spans_by_kind.values())
        sys.stderr.write(f"\r{self.source}: {self.stats.cleaned} records cleaned, {rate:.2f} M chars/s, "
                         f"{spans} spans removed" + ("\n" if final else ""))
        sys.stderr.flush()

    def done(self, result: Stripped, record: int, record_id=None) -> None:
        stats = self.stats
        stats.cleaned += 1
        if self.progress:
            self.chars_in += len(result.text) + sum(len(s.text) for s in result.removed)
            self.show()
        by_kind = stats.spans_by_kind
        for span in result.removed:
            by_kind[span.kind._value_] += 1  # (Enum.value is a property: a call per span)
            stats.chars_removed += len(span.text)
            if self.report is not None:
                entry = {"source": self.source, "record": record}
                if record_id is not None:
                    entry["id"] = record_id
                entry.update(start=span.start, end=span.end, score=round(float(span.score), 4),
                              kind=span.kind.value, decision=span.decision.value, rule=span.rule,
                              text=span.text)
                if span.score_alone is not None:
                    entry.update(score_alone=round(span.score_alone, 4), by_repetition=span.by_repetition)
                self.report.write(_json_bytes(entry) + b"\n")


# json.dumps(obj, ensure_ascii=False) makes a new encoder at every call: one is enough
_encode_json = json.JSONEncoder(ensure_ascii=False).encode


def _json_bytes(obj) -> bytes:
    """UTF-8 JSON; undecodable input bytes (lone surrogates) go back to the bytes they were."""
    text = _encode_json(obj)
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return json.dumps(obj).encode("ascii")


def _record_bytes(obj: dict, fld: str, text: str) -> bytes:
    """``_json_bytes`` of a record with ``obj[fld] = text`` (byte for byte), the text written by
    the compiled core (json's escaper and the UTF-8 encoding after it took a third of the
    CLI's bookkeeping on JSONL)."""
    compiled = native.core()
    literal = compiled.json_utf8(text) if compiled is not None else None
    if literal is None:
        obj[fld] = text
        return _json_bytes(obj)
    # the fields around the text as json writes them ('"k": v, ...'): a dict keeps its order
    keys = list(obj)
    at = keys.index(fld)
    try:
        before = _fields_json(obj, keys[:at])
        after = _fields_json(obj, keys[at + 1:])
        key = _encode_json(fld).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # (a lone surrogate: _json_bytes writes the record in ASCII)
        obj[fld] = text
        return _json_bytes(obj)
    return b"".join((b"{", before, b", " if before else b"", key, b": ", literal, b", " if after else b"", after, b"}"))


def _fields_json(obj: dict, keys: list) -> bytes:
    """Those fields of ``obj`` as json writes them between its braces (UnicodeEncodeError where
    a lone surrogate cannot be written)."""
    return _encode_json({k: obj[k] for k in keys})[1:-1].encode("utf-8", "surrogateescape") if keys else b""


def _paired(explainer, chunks):
    """Zip each chunk's bookkeeping with its results, letting the explainer read ahead."""
    pending: deque = deque()

    def texts():
        for meta, chunk_texts in chunks:
            pending.append(meta)
            yield chunk_texts

    for results in explainer.map(texts()):
        yield pending.popleft(), results


def _site(value) -> str | None:
    return value if isinstance(value, str) else None


def _jsonl_chunks(run: _Run, src: IO[bytes], fld: str, keep_original, site_field):
    for chunk in _batched(enumerate(src, 1), CHUNK):
        parsed = []  # (lineno, raw, obj or None, write_raw)
        for lineno, raw in chunk:
            body = raw.rstrip(b"\r\n")
            if not body.strip():
                parsed.append((lineno, raw, None, True))  # blank lines are kept as they were
                continue
            run.stats.records += 1
            try:
                obj = json.loads(body.decode("utf-8", "surrogateescape"))
            except ValueError as e:
                parsed.append((lineno, raw, None, run.bad(f"{lineno}", f"malformed JSON ({e})", raw)))
                continue
            if not isinstance(obj, dict):
                parsed.append((lineno, raw, None, run.bad(f"{lineno}", f"a JSON {type(obj).__name__}, not an object", raw)))
                continue
            value = obj.get(fld)
            if fld not in obj:
                parsed.append((lineno, raw, None, run.bad(f"{lineno}", f"no field {fld!r}", raw)))
            elif keep_original and keep_original in obj:
                parsed.append((lineno, raw, None, run.bad(f"{lineno}", f"field {keep_original!r} already exists", raw)))
            elif value is None:
                run.stats.passed += 1
                parsed.append((lineno, raw, None, True))
            elif not isinstance(value, str):
                parsed.append((lineno, raw, None, run.bad(f"{lineno}", f"field {fld!r} is {_a(type(value).__name__)}, not text", raw)))
            else:
                parsed.append((lineno, raw, obj, False))
        texts = [obj[fld] for _, _, obj, _ in parsed if obj is not None]
        if site_field:
            yield parsed, (texts, [_site(obj.get(site_field)) for _, _, obj, _ in parsed if obj is not None])
        else:
            yield parsed, texts


def _clean_jsonl(run: _Run, explainer, src: IO[bytes], out: IO[bytes], fld: str, keep_original, site_field):
    for parsed, results in _paired(explainer, _jsonl_chunks(run, src, fld, keep_original, site_field)):
        results = iter(results)
        for lineno, raw, obj, write_raw in parsed:
            if obj is None:
                if write_raw:
                    out.write(raw)
                continue
            result = next(results)
            run.done(result, lineno, obj.get("id"))
            if keep_original:
                obj[keep_original] = obj[fld]
            ending = raw[len(raw.rstrip(b"\r\n")):]
            out.write(_record_bytes(obj, fld, result.text) + ending)


def _clean_csv(run: _Run, explainer, src: IO[bytes], out: IO[bytes], fld: str, keep_original, site_field):
    import pandas as pd

    try:
        reader = pd.read_csv(src, dtype=str, keep_default_na=False, na_filter=False, chunksize=CHUNK,
                             encoding="utf-8", encoding_errors="surrogateescape")
    except pd.errors.EmptyDataError:
        raise RecordError(f"{run.source}: empty CSV (no header)") from None
    text_out = io.TextIOWrapper(out, encoding="utf-8", errors="surrogateescape", newline="", write_through=True)
    first, offset = True, 0

    def frames():
        for frame in reader:
            if fld not in frame.columns:
                raise RecordError(f"{run.source}: no column {fld!r} (columns: {', '.join(map(str, frame.columns))})")
            run.stats.records += len(frame)
            if site_field and site_field not in frame.columns:
                raise RecordError(f"{run.source}: no site column {site_field!r}")
            texts = frame[fld].tolist()
            yield frame, ((texts, [_site(v) for v in frame[site_field]]) if site_field else texts)

    try:
        for frame, results in _paired(explainer, frames()):
            texts = frame[fld].tolist()
            for i, result in enumerate(results):
                run.done(result, offset + i, None)
            if keep_original:
                frame[keep_original] = texts
            frame[fld] = [r.text for r in results]
            frame.to_csv(text_out, index=False, header=first, lineterminator="\n")
            first, offset = False, offset + len(frame)
    except pd.errors.ParserError as e:
        raise RecordError(f"{run.source}: malformed CSV ({e})") from None
    finally:
        text_out.detach()


def _clean_parquet(run: _Run, explainer, path: str, out: IO[bytes], fld: str, keep_original, site_field):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise RecordError(f"{path}: not a readable Parquet file ({e})") from None
    schema = source.schema_arrow
    if fld not in schema.names:
        raise RecordError(f"{path}: no column {fld!r} (columns: {', '.join(schema.names)})")
    if site_field and site_field not in schema.names:
        raise RecordError(f"{path}: no site column {site_field!r}")
    kind = schema.field(fld).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise RecordError(f"{path}: column {fld!r} is {kind}, not text")
    out_schema = schema
    if keep_original:
        if keep_original in schema.names:
            raise RecordError(f"{path}: column {keep_original!r} already exists")
        out_schema = schema.append(pa.field(keep_original, kind))
    writer = pq.ParquetWriter(out, out_schema)
    offset = 0

    def batches():
        for batch in source.iter_batches(batch_size=CHUNK):
            values = batch.column(fld).to_pylist()
            present = [v for v in values if v is not None]
            run.stats.records += len(values)
            run.stats.passed += len(values) - len(present)
            if site_field:
                sites = [_site(s) for v, s in zip(values, batch.column(site_field).to_pylist()) if v is not None]
                yield (batch, values), (present, sites)
            else:
                yield (batch, values), present

    try:
        for (batch, values), results in _paired(explainer, batches()):
            results = iter(results)
            cleaned = []
            for i, v in enumerate(values):
                if v is None:
                    cleaned.append(None)
                    continue
                result = next(results)
                run.done(result, offset + i, None)
                cleaned.append(result.text)
            columns = [batch.column(n) for n in schema.names]
            columns[schema.names.index(fld)] = pa.array(cleaned, type=kind)
            if keep_original:
                columns.append(batch.column(fld))
            writer.write_table(pa.Table.from_arrays(columns, schema=out_schema))
            offset += len(values)
    finally:
        writer.close()


def clean_records(source: str, output: str | None, fmt: str, fld: str, model,
                  config: StripConfig | None = None, *, on_error: str = "fail",
                  rejects: IO[bytes] | None = None, report: IO[bytes] | None = None,
                  keep_original: str | None = None, jobs: int = 1, model_path: str | None = None,
                  trusted: bool = False, site_field: str | None = None, progress: bool = False,
                  repetition=None) -> BatchStats:
    """Clean field ``fld`` of every record of ``source`` (a path, or ``-`` for stdin) into ``output``
    (a path written atomically, or None/``-`` for stdout). Returns the run's statistics.

    ``rejects`` (a binary file) receives the raw records skipped by ``on_error="skip"``;
    ``report`` (a binary file) receives one JSON line per removed span with the record's line
    (JSONL) or row index (CSV, Parquet) and its ``id`` field when it has one. ``jobs`` > 1
    cleans chunks in that many worker processes (each loading ``model_path``), same output.
    ``site_field`` names the field holding each record's site, for rules limited to sites.
    ``progress`` shows a live line on stderr (records, speed, spans removed). ``repetition``
    turns batch mode on: counts from ``count_repetition`` over this input (and any others of the
    same batch), with the same ``site_field``.
    """
    config = config or StripConfig()
    explainer = Explainer(model, config, jobs, model_path, trusted, repetition)
    if fmt == "parquet" and (source == "-" or output in (None, "-")):
        raise RecordError("Parquet needs a file as input and as output (-o FILE)")
    with contextlib.ExitStack() as stack:
        run = _Run(source, on_error, rejects, report, progress)
        out = stack.enter_context(open_output(output))
        if fmt == "parquet":
            _clean_parquet(run, explainer, source, out, fld, keep_original, site_field)
        else:
            src = stack.enter_context(_open_in(source))
            if fmt == "jsonl":
                _clean_jsonl(run, explainer, src, out, fld, keep_original, site_field)
            elif fmt == "csv":
                _clean_csv(run, explainer, src, out, fld, keep_original, site_field)
            else:
                raise ValueError(f"clean_records handles jsonl, csv and parquet, not {fmt!r}")
    run.show(final=True)
    return run.stats


def iter_texts(source: str, fmt: str, fld: str = "text") -> Iterator[str]:
    """The text of every record of a file (a text file is one text), streaming. Null fields are
    skipped; anything else unreadable is a RecordError naming the file and line or row."""
    return (text for text, _ in iter_texts_and_sites(source, fmt, fld))


def iter_texts_and_sites(source: str, fmt: str, fld: str = "text", site_field: str | None = None,
                         skip_bad: bool = False) -> Iterator[tuple[str, str | None]]:
    """(text, site) of every record of a file; the site is the ``site_field`` value (None when
    absent or not a string). ``skip_bad`` passes over records without a text field instead of
    raising (the counting pass of batch mode: the cleaning pass reports them)."""
    if fmt == "text":
        from .textio import InputError, read_text

        try:
            yield read_text(source), None
        except InputError as e:
            if not skip_bad:
                raise RecordError(str(e)) from None
        return
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            source_file = pq.ParquetFile(source)
        except Exception as e:  # pyarrow raises several types for unreadable files
            raise RecordError(f"{source}: not a readable Parquet file ({e})") from None
        names = source_file.schema_arrow.names
        if fld not in names:
            raise RecordError(f"{source}: no column {fld!r}")
        columns = [fld] + ([site_field] if site_field and site_field in names and site_field != fld else [])
        for batch in source_file.iter_batches(batch_size=CHUNK, columns=columns):
            texts = batch.column(0).to_pylist()
            sites = batch.column(1).to_pylist() if len(columns) > 1 else [None] * len(texts)
            yield from ((t, _site(s)) for t, s in zip(texts, sites) if isinstance(t, str))
        return
    with _open_in(source) as src:
        if fmt == "csv":
            import pandas as pd

            try:
                frames = pd.read_csv(src, dtype=str, keep_default_na=False, na_filter=False, chunksize=CHUNK,
                                     encoding="utf-8", encoding_errors="surrogateescape")
            except pd.errors.EmptyDataError:
                if skip_bad:
                    return
                raise RecordError(f"{source}: empty CSV (no header)") from None
            for frame in frames:
                if fld not in frame.columns:
                    raise RecordError(f"{source}: no column {fld!r} (columns: {', '.join(map(str, frame.columns))})")
                sites = frame[site_field].tolist() if site_field and site_field in frame.columns else [None] * len(frame)
                yield from zip(frame[fld].tolist(), sites)
            return
        for lineno, raw in enumerate(src, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8", "surrogateescape"))
            except ValueError as e:
                if skip_bad:
                    continue
                raise RecordError(f"{source}:{lineno}: malformed JSON ({e})") from None
            value = obj.get(fld) if isinstance(obj, dict) else None
            if isinstance(value, str):
                yield value, _site(obj.get(site_field)) if site_field else None
            elif skip_bad:
                continue
            elif value is not None or not isinstance(obj, dict) or fld not in obj:
                raise RecordError(f"{source}:{lineno}: no text field {fld!r}")


def count_repetition(sources: Sequence[str], formats: Sequence[str], fld: str = "text",
                     site_field: str | None = None, site: str | None = None, jobs: int = 1):
    """Batch mode, first pass over every input: repetition counts of all their records as one
    batch (see ``promofilter.repetition``), or None for fewer than two records or stdin. With
    ``jobs`` > 1, chunks are counted in worker processes (same counts)."""
    from .parallel import count_chunks

    if any(s == "-" for s in sources):
        return None  # stdin cannot be read twice: cleaned without batch features

    def chunks():
        for source, fmt in zip(sources, formats):
            pairs = iter_texts_and_sites(source, fmt, fld, site_field, skip_bad=True)
            # --site is the site of text inputs only; records take theirs from site_field, as
            # the cleaning pass does
            fallback = site if fmt == "text" else None
            for chunk in _batched(pairs, CHUNK):
                yield [t for t, _ in chunk], [s if s is not None else fallback for _, s in chunk]

    counts = count_chunks(chunks(), jobs)
    return counts if counts.documents >= 2 else None
