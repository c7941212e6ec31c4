"""The command line: a thin layer over the API, byte-exact, with clear errors and exit codes."""
import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from promofilter.cli import cli

ARTICLE = (
    "Harbor Ferry Adds Late-Night Sailings\n"
    "The harbor ferry will add two late-night sailings on Fridays and Saturdays starting next month, "
    "the transit authority said on Monday.\n"
    "Ridership on the route has climbed 18% since the spring, according to the authority's figures.\n"
)
TRAILER = "Follow us on Telegram and X for breaking news alerts!\n"


@pytest.fixture
def run(model_dir):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, ["--help"] if args == ("--help",) else list(args), input=input,
                             env={"PROMOFILTER_MODEL": str(model_dir)}, catch_exceptions=False)

    return invoke


def test_strip_reads_stdin_and_writes_stdout(run):
    result = run("strip", input=ARTICLE + TRAILER)
    assert result.exit_code == 0
    assert result.stdout_bytes == ARTICLE.encode()


def test_strip_dash_means_stdin(run):
    assert run("strip", "-", input=ARTICLE).stdout_bytes == ARTICLE.encode()


def test_strip_file_to_output_file_with_report(run, tmp_path):
    src = tmp_path / "a.txt"
    src.write_bytes((ARTICLE + TRAILER).replace("\n", "\r\n").encode())
    out, report = tmp_path / "out.txt", tmp_path / "report.jsonl"
    result = run("strip", str(src), "-o", str(out), "--report", str(report))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == ARTICLE.replace("\n", "\r\n").encode()
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert rows and rows[0]["source"] == str(src)
    assert {"start", "end", "score", "kind", "text"} <= rows[0].keys()
    original = src.read_bytes().decode()
    assert all(original[r["start"]:r["end"]] == r["text"] for r in rows)


def test_invalid_utf8_bytes_survive(run, tmp_path):
    src = tmp_path / "odd.txt"
    data = b"Caf\xe9 owners met the mayor on Friday.\n\xff\xfe odd bytes stay.\n"
    src.write_bytes(data)
    result = run("strip", str(src), "--threshold", "1")
    assert result.stdout_bytes == data


def test_missing_file_is_a_data_error_naming_the_file(run, tmp_path):
    result = run("strip", str(tmp_path / "nope.txt"))
    assert result.exit_code == 1
    assert "nope.txt" in result.output and "no such file" in result.output


def test_an_empty_directory_is_an_error_naming_it(run, tmp_path):
    result = run("strip", str(tmp_path), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1 and f"no files matching '*' in {tmp_path}" in result.output


def test_bad_threshold_is_a_usage_error(run):
    assert run("strip", "--threshold", "3", input="x").exit_code == 2


def test_run_threshold_flag_carries_a_run_on_and_is_checked(run):
    # the trailer opens the text: a run threshold of 0 removes everything after it, 1 nothing more
    text = TRAILER + ARTICLE
    assert run("strip", "--threshold", "0.5", "--run-threshold", "0", input=text).stdout_bytes.strip() == b""
    assert run("strip", "--threshold", "0.5", "--run-threshold", "1", input=text).stdout_bytes == ARTICLE.encode()
    assert run("strip", "--run-threshold", "3", input="x").exit_code == 2


def test_unknown_kind_is_a_usage_error(run):
    assert run("strip", "--keep", "banner", input="x").exit_code == 2


def test_detect_prints_a_table_with_every_segment(run):
    result = run("detect", input=ARTICLE + TRAILER)
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["start", "end", "score", "kind"]
    assert len(lines) == 1 + 4
    assert "REMOVE" in lines[-1]


def test_detect_json_gives_one_object_per_segment(run):
    rows = [json.loads(line) for line in run("detect", "--json", input=ARTICLE).output.splitlines()]
    assert len(rows) == 3 and not any(r["removed"] for r in rows)


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0 and "promofilter" in result.output


@pytest.mark.parametrize("command", ["strip", "detect", "train"])
def test_every_command_has_help(run, command):
    result = run(command, "--help")
    assert result.exit_code == 0 and len(result.output.splitlines()) > 5


def test_every_command_is_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name in cli.commands:
        assert f"promofilter {name}" in readme, name


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_come_out_as_input_minus_the_reported_spans(run, tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("bytes")
    src, report = tmp / "in.bin", tmp / "report.jsonl"
    src.write_bytes(data)
    result = run("strip", str(src), "--report", str(report))
    if b"\x00" in data[:8192] and data.count(b"\x00") > len(data[:8192]) // 10:
        assert result.exit_code == 1  # refused as binary, nothing written
        return
    assert result.exit_code == 0, result.output
    original = data.decode("utf-8", "surrogateescape")
    spans = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    expected = original
    for span in reversed(spans):
        expected = expected[: span["start"]] + expected[span["end"]:]
    assert result.stdout_bytes == expected.encode("utf-8", "surrogateescape")


def test_version_and_import_load_no_numpy():
    # `promofilter --version` and `import promofilter` are start-up cost alone: NumPy comes with
    # the first model or scoring call
    code = "import sys, promofilter\nprint('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    version = subprocess.run([sys.executable, "-X", "importtime", "-m", "promofilter", "--version"],
                             capture_output=True, text=True, check=True)
    assert version.stdout.startswith("promofilter")
    assert not re.search(r"\|\s+numpy$", version.stderr, re.M)  # (one line per module imported)
