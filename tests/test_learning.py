"""Quick corrections: `promofilter learn` / `forget`, an incremental retrain around the base model."""
from click.testing import CliRunner

from promofilter.cli import cli
from promofilter.learning import LearnedSample, retrain_with
from promofilter.registry import current_path

CONTEXT = "The council approved the budget on Tuesday after a long debate about road repairs.\n"
# house slogans of invented outlets: no promo family of the corpus words them like this
NEW_STYLE = ["Otterline Dispatch has been brewed in Maple Creek since 1998.",
             "Brewed in Maple Creek since 1998: the Otterline Dispatch.",
             "The Otterline Dispatch, brewed daily in Maple Creek."]


def _removed(model, line: str) -> bool:
    return any(s.removed for s in model.detect(CONTEXT + line + "\n") if s.end > len(CONTEXT))


def _unknown_style(model) -> str:
    missed = [line for line in NEW_STYLE if not _removed(model, line)]
    assert missed, "precondition: the fixture model must miss one of the new-style lines"
    return missed[0]


def test_a_learned_promo_is_removed_and_ordinary_text_is_not_touched(model):
    line = _unknown_style(model)
    learned = retrain_with(model, [LearnedSample(line, "promo", "boilerplate", "")])
    assert _removed(learned, line)
    article = ("Maple Creek's council met on Tuesday. The brewery has operated there since 1998.\n"
               "Residents asked for more buses.\n")
    assert learned.strip(article) == model.strip(article) == article


def test_a_learned_keep_line_is_kept(model):
    line = "Follow the money, the auditor told the committee, and subscribe to nothing you cannot explain."
    base_removed = _removed(model, line)
    kept = retrain_with(model, [LearnedSample(line, "content", "content", "")])
    assert not _removed(kept, line)
    if base_removed:  # the correction is what changed it
        assert _removed(model, line)


def test_learn_makes_a_new_current_version_and_forget_restores_the_base(model, model_dir):
    line = _unknown_style(model)
    runner = CliRunner()
    result = runner.invoke(cli, ["learn", "--promo", line, "--kind", "boilerplate"])
    assert result.exit_code == 0, result.output
    assert "is now the current model" in result.output
    assert current_path() is not None
    out = runner.invoke(cli, ["strip", "--model", str(current_path())], input=CONTEXT + line + "\n")
    assert out.exit_code == 0 and out.output == CONTEXT

    listed = runner.invoke(cli, ["learned"])
    assert f"+ {line}" in listed.output and str(model_dir) in listed.output

    forgot = runner.invoke(cli, ["forget", "--all"])
    assert forgot.exit_code == 0, forgot.output
    assert current_path() is None  # the base (here: no trained version) is current again


def test_forgetting_one_example_retrains_with_the_others(model):
    runner = CliRunner()
    first, second = NEW_STYLE[0], "Harbor Minute: the two-minute morning read for curious people."
    assert runner.invoke(cli, ["learn", "--promo", first, "--promo", second]).exit_code == 0
    result = runner.invoke(cli, ["forget", first])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["learned"]).output
    assert second in listed and first not in listed


def test_learning_from_a_file_checks_its_lines(tmp_path, model):
    bad = tmp_path / "examples.txt"
    bad.write_text("+ A promo line to learn.\nno sign here\n")
    result = CliRunner().invoke(cli, ["learn", "--from", str(bad)])
    assert result.exit_code == 1 and "examples.txt:2" in result.output


def test_forget_without_a_match_is_an_error(model):
    result = CliRunner().invoke(cli, ["forget", "never learned"])
    assert result.exit_code == 1 and "no learned example" in result.output
    assert CliRunner().invoke(cli, ["forget"]).exit_code == 2


def test_a_damaged_store_is_a_clear_error_naming_its_line(model):
    from promofilter.learning import learned_store

    learned_store().parent.mkdir(parents=True, exist_ok=True)
    learned_store().write_text('{"text": "ok line", "label": "promo", "kind": "ad"}\n{"text": \n')
    for args in (["learned"], ["forget", "--all"], ["learn", "--promo", "Another line to learn."]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1 and "learned.jsonl:2" in result.output, result.output
