"""Batch files on the command line: JSONL, CSV and Parquet, only the text field cleaned, streaming,
bad records reported by file and line, never dropped silently."""
import contextlib
import gzip
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from promofilter.batch import detect_format
from promofilter.cli import cli

ARTICLE = (
    "Harbor Ferry Adds Late-Night Sailings\n"
    "The harbor ferry will add two late-night sailings on Fridays and Saturdays starting next month, "
    "the transit authority said on Monday.\n"
    "Ridership on the route has climbed 18% since the spring, according to the authority's figures.\n"
)
TRAILER = "Follow us on Telegram and X for breaking news alerts!\n"
TEXTS = [ARTICLE + TRAILER, "Rain is forecast for Tuesday.\r\n", ARTICLE, "Caf\u00e9 prices rose 3%. \U0001F600"]


@pytest.fixture
def run(model_dir):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, list(args), input=input, env={"PROMOFILTER_MODEL": str(model_dir)},
                             catch_exceptions=False)

    return invoke


def _records():
    return [{"id": i, "text": t, "score": i / 2, "tags": ["x", i]} for i, t in enumerate(TEXTS)]


def _write_jsonl(path, records, extra_lines=()):
    with open(path, "w", encoding="utf-8", newline="") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        for line in extra_lines:
            f.write(line)


def test_format_comes_from_the_extension_through_gz():
    assert [detect_format(p) for p in ("a.jsonl", "a.JSONL.gz", "b.csv", "c.parquet", "d.txt", "e")] == \
        ["jsonl", "jsonl", "csv", "parquet", "text", "text"]
    assert detect_format("a.txt", "csv") == "csv"


def test_jsonl_cleans_only_the_field_and_keeps_order_types_and_other_fields(run, model, tmp_path):
    src, out, report = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "report.jsonl"
    _write_jsonl(src, _records())
    result = run("strip", str(src), "-o", str(out), "--report", str(report), "--keep-original", "raw")
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for record, original in zip(got, _records()):
        assert record["text"] == model.strip(original["text"])
        assert record["raw"] == original["text"]
        assert {k: v for k, v in record.items() if k not in ("text", "raw")} == \
            {k: v for k, v in original.items() if k != "text"}
    spans = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    for span in spans:
        assert TEXTS[span["id"]][span["start"]:span["end"]] == span["text"]
    assert "4 records: 4 cleaned" in result.stderr


# records whose text sits first, between fields or alone; escapes, control characters and
# non-ASCII text; undecodable bytes in the text and in another field (written back as they were);
# lone surrogates written as escapes, which only ASCII JSON can write out
ODD_RECORDS = [
    b'{"text": "Plain text.\\nFollow us on Telegram and X for breaking news alerts!\\n", "id": 1}\n',
    b'{"id": 2, "text": "Caf\xc3\xa9 \\"quoted\\" tab\\t bell\\u0007 \\u2028 \xf0\x9f\x98\x80 back\\\\slash/", '
    b'"n": 1.5e3, "nested": {"text": "", "x": [null, true]}}\n',
    b'{"id": 3, "meta": "bytes \xff\xfe here", "text": "undecodable \xff\xc0 bytes kept"}\r\n',
    b'{"text": "a lone surrogate \\ud800 in the text"}\n',
    b'{"id": 5, "meta": "\\udfff", "text": "after a field only ASCII can write"}\n',
    b'{"text": ""}\n',
]


def _as_json_writes(line: bytes, text_of, keep_original=None) -> bytes:
    """What json.dumps writes for the record of ``line`` with its text cleaned by ``text_of``."""
    body = line.rstrip(b"\r\n")
    obj = json.loads(body.decode("utf-8", "surrogateescape"))
    if keep_original:
        obj[keep_original] = obj["text"]
    obj["text"] = text_of(obj["text"])
    try:
        written = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        written = json.dumps(obj).encode("ascii")
    return written + line[len(body):]


@pytest.mark.parametrize("keep_original", [None, "raw"])
@pytest.mark.parametrize("compiled", [True, False])
def test_jsonl_records_are_written_byte_for_byte_as_json_writes_them(run, model, tmp_path, keep_original, compiled):
    from promofilter import native

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(b"".join(ODD_RECORDS))
    with contextlib.nullcontext() if compiled else native.switched_off():
        result = run("strip", str(src), "-o", str(out), *(["--keep-original", keep_original] if keep_original else []))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == b"".join(_as_json_writes(line, model.strip, keep_original) for line in ODD_RECORDS)


def test_jsonl_gz_in_and_out(run, model, tmp_path):
    src, out = tmp_path / "in.jsonl.gz", tmp_path / "out.jsonl.gz"
    src.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in _records()).encode()))
    assert run("strip", str(src), "-o", str(out)).exit_code == 0
    got = [json.loads(line) for line in gzip.decompress(out.read_bytes()).decode().splitlines()]
    assert [r["text"] for r in got] == [model.strip(t) for t in TEXTS]


def test_a_malformed_line_fails_naming_file_and_line_and_writes_nothing(run, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, _records()[:2], ['{"id": 9, "text": "unterminated\n'])
    result = run("strip", str(src), "-o", str(out))
    assert result.exit_code == 1
    assert f"{src}:3: malformed JSON" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


@pytest.mark.parametrize("bad, problem", [
    ('[1, 2]\n', "a JSON list, not an object"),
    ('{"id": 7}\n', "no field 'text'"),
    ('{"id": 7, "text": 12}\n', "field 'text' is an int, not text"),
])
def test_unreadable_records_are_errors_naming_the_problem(run, tmp_path, bad, problem):
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, _records()[:1], [bad])
    result = run("strip", str(src))
    assert result.exit_code == 1 and f"{src}:2: {problem}" in result.stderr


def test_skip_sends_bad_records_to_rejects_and_pass_keeps_them(run, model, tmp_path):
    src, out, rejects = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    bad = '{"id": 9, "text": broken}\n'
    _write_jsonl(src, _records()[:2], [bad, '{"id": 10, "text": null}\n'])
    assert run("strip", str(src), "--on-error", "skip").exit_code == 2  # skip needs --rejects
    result = run("strip", str(src), "-o", str(out), "--on-error", "skip", "--rejects", str(rejects))
    assert result.exit_code == 0 and "1 skipped" in result.stderr
    assert rejects.read_text() == bad
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and lines[-1] == '{"id": 10, "text": null}'
    passed = run("strip", str(src), "--on-error", "pass").stdout.splitlines()
    assert passed[2] + "\n" == bad and len(passed) == 4


def test_csv_cleans_the_named_column_and_keeps_the_others_as_written(run, model, tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"id": ["007", "8", "9", "10"], "body": TEXTS, "price": ["1.50", "", "NA", "2"]}).to_csv(src, index=False)
    result = run("strip", str(src), "--column", "body", "-o", str(out))
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert got["id"].tolist() == ["007", "8", "9", "10"] and got["price"].tolist() == ["1.50", "", "NA", "2"]
    assert got["body"].tolist() == [model.strip(t) for t in TEXTS]


def test_csv_without_the_column_names_the_columns(run, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,body\n1,hello\n")
    result = run("strip", str(src))
    assert result.exit_code == 1 and "no column 'text' (columns: id, body)" in result.stderr


def test_parquet_keeps_schema_nulls_and_other_columns(run, model, tmp_path):
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    df = pd.DataFrame({"id": [1, 2, 3, 4, 5], "text": TEXTS + [None], "w": [0.5, 1.0, 2.0, 3.0, 4.0]})
    df.to_parquet(src, index=False)
    assert run("strip", str(src), "-o", str(out)).exit_code == 0
    got = pd.read_parquet(out)
    assert got["id"].tolist() == [1, 2, 3, 4, 5] and got["w"].tolist() == [0.5, 1.0, 2.0, 3.0, 4.0]
    assert got["text"].tolist()[:4] == [model.strip(t) for t in TEXTS] and got["text"].isna().tolist()[4]


def test_parquet_with_a_non_text_column_is_an_error(run, tmp_path):
    src = tmp_path / "in.parquet"
    pd.DataFrame({"text": [1, 2]}).to_parquet(src)
    result = run("strip", str(src), "-o", str(tmp_path / "out.parquet"))
    assert result.exit_code == 1 and "column 'text' is int64, not text" in result.stderr


def test_in_place_rewrites_each_file(run, model, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.txt"
    _write_jsonl(a, _records())
    b.write_bytes((ARTICLE + TRAILER).encode())
    assert run("strip", "--in-place", str(a), str(b)).exit_code == 0
    assert [json.loads(x)["text"] for x in a.read_text().splitlines()] == [model.strip(t) for t in TEXTS]
    assert b.read_bytes().decode() == model.strip(ARTICLE + TRAILER)
    assert run("strip", "--in-place", str(a), "-o", str(tmp_path / "x")).exit_code == 2


def test_several_batch_files_need_in_place(run, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _write_jsonl(a, _records())
    _write_jsonl(b, _records())
    assert run("strip", str(a), str(b)).exit_code == 2


def test_two_jobs_write_the_same_bytes_as_one(run, tmp_path):
    src = tmp_path / "in.jsonl"
    records = [{"id": i, "text": TEXTS[i % len(TEXTS)] + ("x" * (i % 5))} for i in range(1200)]
    _write_jsonl(src, records)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert run("strip", str(src), "-o", str(one), "--report", str(tmp_path / "r1")).exit_code == 0
    assert run("strip", str(src), "-o", str(two), "--report", str(tmp_path / "r2"), "--jobs", "2").exit_code == 0
    assert one.read_bytes() == two.read_bytes()
    assert (tmp_path / "r1").read_bytes() == (tmp_path / "r2").read_bytes()


def test_two_jobs_over_text_files_match_one_job(run, tmp_path):
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"{i}.txt")
        paths[-1].write_bytes(TEXTS[i % len(TEXTS)].encode())
    one = run("strip", *map(str, paths)).stdout_bytes
    assert run("strip", "--jobs", "2", *map(str, paths)).stdout_bytes == one


def test_a_run_killed_half_way_leaves_the_previous_output_intact_and_the_next_run_clears_its_debris(
        model_dir, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, [{"id": i, "text": TEXTS[i % len(TEXTS)] * 3} for i in range(40000)])
    out.write_bytes(b"previous output\n")
    env = dict(os.environ, PROMOFILTER_MODEL=str(model_dir))
    proc = subprocess.Popen([sys.executable, "-m", "promofilter", "strip", str(src), "-o", str(out)], env=env,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".out.jsonl.") for p in tmp_path.iterdir()):
        time.sleep(0.05)  # wait until it is writing its temporary file
    time.sleep(0.5)
    assert proc.poll() is None, "the run finished before it could be killed; make the input bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert out.read_bytes() == b"previous output\n"
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl.")]  # killed: no cleanup ran
    small = tmp_path / "small.jsonl"
    _write_jsonl(small, [{"id": 1, "text": ARTICLE}])
    subprocess.run([sys.executable, "-m", "promofilter", "strip", str(small), "-o", str(out)], env=env, check=True)
    assert json.loads(out.read_text())["text"] == ARTICLE
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl.")]


def test_a_temporary_file_of_a_live_run_or_another_host_is_not_touched(tmp_path, monkeypatch):
    import fcntl
    import os
    import socket

    from promofilter import textio

    monkeypatch.setattr(textio, "_CLEANED_DIRS", set())
    out = tmp_path / "out.txt"
    host = socket.gethostname()
    live = tmp_path / f".out.txt.promofilter-{host}-{os.getppid()}-abc123.tmp"
    other_host = tmp_path / f".out.txt.promofilter-{host}x-999999999-abc123.tmp"
    dead = tmp_path / f".other name.txt.promofilter-{host}-999999999-abc123.tmp"
    locked = tmp_path / f".out.txt.promofilter-{host}-999999998-abc123.tmp"  # a writer in another PID namespace
    huge_pid = tmp_path / f".out.txt.promofilter-{host}-{'9' * 30}-abc123.tmp"
    for p in (live, other_host, dead, locked, huge_pid):
        p.write_bytes(b"partial")
    holder = os.open(locked, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        textio.atomic_write(out, b"new\n")
    finally:
        os.close(holder)
    assert out.read_bytes() == b"new\n"
    assert live.exists() and other_host.exists() and locked.exists() and huge_pid.exists() and not dead.exists()
    assert textio.remove_stale_temporaries(tmp_path) == []  # once per directory and process


def test_a_long_file_name_still_gets_an_atomic_write(tmp_path):
    from promofilter.textio import atomic_write

    out = tmp_path / ("n" * 240 + ".txt")
    atomic_write(out, b"ok\n")
    assert out.read_bytes() == b"ok\n"



def test_a_directory_is_cleaned_into_an_output_directory_with_the_same_tree(run, model, tmp_path):
    src = tmp_path / "crawl"
    (src / "2026" / "11").mkdir(parents=True)
    (src / ".cache").mkdir()
    (src / "a.txt").write_bytes((ARTICLE + TRAILER).encode())
    (src / "2026" / "11" / "b.txt").write_bytes(ARTICLE.encode())
    (src / ".cache" / "skip.txt").write_text("hidden files are not inputs")
    _write_jsonl(src / "2026" / "r.jsonl", _records())
    out = tmp_path / "clean"
    result = run("strip", str(src), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        ["2026/11/b.txt", "2026/r.jsonl", "a.txt"]
    assert (out / "a.txt").read_bytes().decode() == model.strip(ARTICLE + TRAILER)
    assert [json.loads(x)["text"] for x in (out / "2026" / "r.jsonl").read_text().splitlines()] == \
        [model.strip(t) for t in TEXTS]
    only_txt = run("strip", str(src), "--glob", "*.txt", "-o", str(tmp_path / "txt"))
    assert only_txt.exit_code == 0 and not (tmp_path / "txt" / "2026" / "r.jsonl").exists()
    assert run("strip", str(src)).exit_code == 2  # a directory needs -o OUTDIR or --in-place


def test_dry_run_shows_the_spans_and_writes_nothing(run, model, tmp_path):
    a = tmp_path / "a.txt"
    a.write_bytes((ARTICLE + TRAILER).encode())
    _write_jsonl(tmp_path / "r.jsonl", _records())
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    text_run = run("strip", "--dry-run", "--in-place", str(a))
    removed = model.strip_and_explain(ARTICLE + TRAILER).removed
    assert removed and f"{a}:{removed[0].start}-{removed[0].end}" in text_run.stdout
    records_run = run("strip", "--dry-run", str(tmp_path))
    assert records_run.exit_code == 0 and '"record": 1' in records_run.stdout
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_progress_line_counts_records_and_spans(model, tmp_path, capsys):
    from promofilter.batch import clean_records

    src = tmp_path / "in.jsonl"
    _write_jsonl(src, _records())
    stats = clean_records(str(src), str(tmp_path / "out.jsonl"), "jsonl", "text", model, progress=True)
    err = capsys.readouterr().err
    assert err.startswith("\r") and err.endswith("\n")
    assert "4 records" in err and f"{sum(stats.spans_by_kind.values())} spans removed" in err
    clean_records(str(src), str(tmp_path / "out2.jsonl"), "jsonl", "text", model)
    assert capsys.readouterr().err == ""  # not a terminal: no progress line


def test_backup_keeps_the_original_beside_the_rewritten_file(run, model, tmp_path):
    a, r = tmp_path / "a.txt", tmp_path / "r.jsonl"
    a.write_bytes((ARTICLE + TRAILER).encode())
    _write_jsonl(r, _records())
    original = r.read_bytes()
    assert run("strip", "--in-place", "--backup", ".orig", str(a), str(r)).exit_code == 0
    assert (tmp_path / "a.txt.orig").read_bytes() == (ARTICLE + TRAILER).encode()
    assert (tmp_path / "r.jsonl.orig").read_bytes() == original
    assert a.read_bytes().decode() == model.strip(ARTICLE + TRAILER)
    assert run("strip", "--backup", ".orig", str(a)).exit_code == 2
