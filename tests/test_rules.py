"""User control without retraining: per-kind policy, block and allow rules, config files."""
import json

import pytest
from click.testing import CliRunner

from promofilter import Decision, Kind, StripConfig
from promofilter.cli import cli
from promofilter.config import ConfigError, config_from_dict, load_config
from promofilter.rules import Rule, RuleError
from promofilter.textio import write_text

ARTICLE = (
    "Harbor Ferry Adds Late-Night Sailings\n"
    "The harbor ferry will add two late-night sailings on Fridays and Saturdays starting next month, "
    "the transit authority said on Monday.\n"
    "Ridership on the route has climbed 18% since the spring, according to the authority's figures.\n"
)
SPONSOR = "This crossing is brought to you by Tidewater Outfitters, gear for every tide.\n"
NEWSLETTER = "Subscribe to our newsletter for the latest transit news, delivered every morning!\n"
CREDIT = "Photo: Jane Doe/Harbor Press\n"


def test_a_template_rule_matches_the_whole_segment_with_slots_for_any_text():
    rule = Rule("post", "block", "The post {title} appeared first on {site}.", "template", "boilerplate")
    assert rule.matches("The post Ferry adds sailings appeared first on Harbor  News.")
    assert not rule.matches("He said the post appeared first on a blog, then vanished.")
    assert rule.kind is Kind.BOILERPLATE


def test_literal_and_regex_rules_search_inside_the_segment():
    assert Rule("lit", "allow", "Tidewater", "literal").matches(SPONSOR)
    assert Rule("re", "block", r"brought to you by \w+", "regex").matches(SPONSOR)
    assert not Rule("re", "block", r"^Brought", "regex").matches(SPONSOR)


@pytest.mark.parametrize("pattern, syntax, problem", [
    (".*", "regex", "matches 20 of 20 ordinary sentences"),
    ("the", "literal", "ordinary sentences"),
    ("(unclosed", "regex", "invalid regular expression"),
    ("(a+)+$", "regex", "nested quantifiers"),
    (r"(\w+\s?)*!", "regex", "nested quantifiers"),
    ("   ", "literal", "the pattern is empty"),
])
def test_bad_rules_fail_at_once_naming_the_rule(pattern, syntax, problem):
    with pytest.raises(RuleError, match=f"rule 'r1'.*{problem}"):
        Rule("r1", "block", pattern, syntax)


def test_a_slow_regex_without_nested_quantifiers_is_caught_by_the_time_bound():
    with pytest.raises(RuleError, match="catastrophic backtracking"):
        Rule("slow", "block", r"(a|aa)+$|(a|a?)+b", "regex")


def test_block_rule_removes_a_line_the_model_keeps_and_says_so(model):
    text = ARTICLE + SPONSOR
    strict = StripConfig(threshold=1.0)  # a model that removes nothing: the rule must do it
    assert model.strip(text, strict) == text
    rule = Rule("tw", "block", "This crossing is brought to you by {sponsor}.", "template")
    result = model.strip_and_explain(text, StripConfig(threshold=1.0, rules=(rule,)))
    assert result.text == ARTICLE
    (span,) = result.removed
    assert span.decision is Decision.RULE and span.rule == "tw" and span.kind is Kind.AD
    assert span.text == "\n" + SPONSOR.rstrip("\n")


def test_allow_rule_protects_a_segment_whatever_its_score_and_wins_over_block(model):
    text = ARTICLE + NEWSLETTER
    assert model.strip(text) == ARTICLE  # removed by the model
    allow = Rule("keep-newsletter", "allow", "Subscribe to our newsletter", "literal")
    block = Rule("block-newsletter", "block", "newsletter for the latest", "literal")
    result = model.strip_and_explain(text, StripConfig(rules=(block, allow)))
    assert result.text == text and result.removed == ()
    last = model.detect(text, StripConfig(rules=(block, allow)))[-1]
    assert last.decision is Decision.ALLOWED and last.rule == "keep-newsletter" and not last.removed


def test_per_kind_thresholds_and_kept_kinds(model):
    text = ARTICLE + NEWSLETTER
    assert model.strip(text, StripConfig(kind_thresholds={"cta": 1.0})) == text
    assert model.strip(text, StripConfig(threshold=1.0, kind_thresholds={Kind.CTA: 0.0})) == ARTICLE
    assert model.strip(text, StripConfig(remove_kinds={Kind.AD})) == text
    with pytest.raises(ValueError):
        StripConfig(kind_thresholds={"cta": 1.5})


def test_config_file_sets_policy_and_rules(tmp_path):
    path = tmp_path / "promofilter.toml"
    path.write_text('threshold = 0.8\nrun_threshold = 0.7\nkeep = ["credit"]\n[thresholds]\ncta = 0.6\n'
                    '[[rules]]\nname = "tw"\naction = "block"\nkind = "ad"\nliteral = "Tidewater Outfitters"\n')
    config = load_config(path)
    assert config.threshold == 0.8 and config.run_threshold == 0.7 and Kind.CREDIT not in config.remove_kinds
    assert config.threshold_for(Kind.CTA, 0.9) == 0.6 and config.threshold_for(Kind.AD, 0.9) == 0.9
    assert [r.name for r in config.rules] == ["tw"]
    assert config.builtin_rules and not config_from_dict({"builtin_rules": False}).builtin_rules


@pytest.mark.parametrize("data, problem", [
    ({"treshold": 0.5}, "unknown keys treshold"),
    ({"keep": ["credits"]}, "'credits' is not a valid Kind"),
    ({"rules": [{"name": "a", "action": "block"}]}, "exactly one of literal, regex, template"),
    ({"rules": [{"name": "a", "action": "block", "literal": "x y z"}] * 2}, "unique: a"),
    ({"rules": [{"name": "a", "action": "drop", "literal": "x y z"}]}, "action must be block or allow"),
    ({"builtin_rules": "no"}, "builtin_rules must be true or false"),
    ({"run_threshold": 2}, "run_threshold must be a number between 0 and 1"),
])
def test_config_errors_say_what_is_wrong(data, problem):
    with pytest.raises(ConfigError, match=problem):
        config_from_dict(data)


@pytest.fixture
def run(model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, list(args), input=input, env={"PROMOFILTER_MODEL": str(model_dir)},
                             catch_exceptions=False)

    return invoke


def test_cli_keeps_credits_blocks_a_sponsor_and_protects_a_line_in_one_config(run, model, tmp_path):
    text = ARTICLE + SPONSOR + NEWSLETTER + CREDIT
    (tmp_path / "promofilter.toml").write_text(
        'keep = ["credit"]\n'
        '[[rules]]\nname = "tidewater"\naction = "block"\ntemplate = "This crossing is brought to you by {sponsor}."\n'
        '[[rules]]\nname = "ferry-sailings"\naction = "allow"\nliteral = "late-night sailings"\n')
    result = run("strip", "--report", "report.jsonl", input=text)
    assert result.exit_code == 0
    assert SPONSOR not in result.stdout and "Harbor Ferry Adds Late-Night Sailings" in result.stdout
    report = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert {"decision": "rule", "rule": "tidewater"}.items() <= report[0].items()
    assert all(r["kind"] != "credit" for r in report)
    detect = run("detect", input=text).stdout
    assert "rule:ferry-sailings" in detect and "rule:tidewater" in detect


def test_cli_config_errors_exit_1_with_the_file_named(run, tmp_path):
    (tmp_path / "bad.toml").write_text('[[rules]]\nname = "x"\naction = "block"\nregex = "(a+)+"\n')
    result = run("strip", "--config", "bad.toml", input=ARTICLE)
    assert result.exit_code == 1 and "bad.toml" in result.stderr and "nested quantifiers" in result.stderr


def test_rules_test_lists_matches_per_rule_without_a_model(run, tmp_path):
    (tmp_path / "rules.toml").write_text(
        '[[rules]]\nname = "tw"\naction = "block"\nliteral = "Tidewater"\n'
        '[[rules]]\nname = "ferry"\naction = "allow"\nliteral = "brought to you"\n')
    (tmp_path / "a.txt").write_text(ARTICLE + SPONSOR)
    out = run("rules", "test", "rules.toml", "a.txt").stdout
    assert "tw (block, literal): 1 segment(s)" in out and "[overridden by ferry]" in out


def test_writing_through_a_symlink_replaces_its_target_and_devices_are_written_directly(tmp_path):
    target, link = tmp_path / "target.txt", tmp_path / "link.txt"
    target.write_text("old")
    link.symlink_to(target)
    write_text(str(link), "new")
    assert link.is_symlink() and target.read_text() == "new"
    write_text("/dev/null", "discarded")  # replacing /dev/null with a file would be a disaster
    import os
    import stat
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_rule_limited_to_sites_applies_only_to_their_documents(model):
    rule = Rule("tw", "block", "Tidewater Outfitters", sites=["Harbor.example"])
    config = StripConfig(threshold=1.0, rules=(rule,))
    text = ARTICLE + SPONSOR
    assert model.strip(text, config, site="harbor.example") == ARTICLE
    assert model.strip(text, config, site="other.example") == text
    assert model.strip(text, config) == text
    assert model.strip_many([text, text], config, sites=["harbor.example", None]) == [ARTICLE, text]


def test_site_limited_rules_in_batch_files_use_the_site_field(run, model, tmp_path):
    (tmp_path / "promofilter.toml").write_text(
        'threshold = 1.0\n[[rules]]\nname = "tw"\naction = "block"\nliteral = "Tidewater Outfitters"\n'
        'sites = ["harbor.example"]\n')
    records = [{"id": 1, "site": "harbor.example", "text": ARTICLE + SPONSOR},
               {"id": 2, "site": "other.example", "text": ARTICLE + SPONSOR}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    for jobs in ("1", "2"):
        result = run("strip", "in.jsonl", "--site-field", "site", "--jobs", jobs)
        assert result.exit_code == 0, result.output
        assert [json.loads(x)["text"] for x in result.stdout.splitlines()] == [ARTICLE, ARTICLE + SPONSOR]
    text_run = run("strip", "--site", "harbor.example", input=ARTICLE + SPONSOR)
    assert text_run.stdout == ARTICLE


def test_dask_mode_refuses_a_config_it_cannot_apply(run, tmp_path):
    # workers apply the threshold and kinds only: a setting they would drop is an error, not ignored
    (tmp_path / "promofilter.toml").write_text("builtin_rules = false\n")
    (tmp_path / "in.parquet").write_bytes(b"")
    result = run("strip", "in.parquet", "--dask", "tcp://127.0.0.1:9", "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and "builtin_rules = false run in single-machine mode" in result.output
    assert not (tmp_path / "out").exists()
