"""Evaluation metrics count non-whitespace characters, like the team's scorer."""
import pytest

from promofilter.evaluate import score_documents

DOC = {"text": "Real news here.\nBuy now at Shop!\n", "promo_spans": [[16, 32, "ad"]]}


def test_exact_removal_scores_perfectly():
    m = score_documents([DOC], [[(15, 32)]])
    assert (m.precision, m.recall, m.f1, m.content_loss, m.lossy_docs) == (1.0, 1.0, 1.0, 0.0, 0.0)
    assert m.per_kind_recall == {"ad": 1.0}


def test_removing_nothing_has_zero_recall_and_no_loss():
    m = score_documents([DOC], [[]])
    assert m.recall == 0.0 and m.content_loss == 0.0 and m.f1 == 0.0


def test_removing_a_whole_content_word_makes_the_document_lossy():
    m = score_documents([DOC], [[(10, 32)]])  # also removes "here."
    assert m.lossy_docs == 1.0
    assert m.content_loss == pytest.approx(5 / 13)
    assert m.precision == pytest.approx(13 / 18)


def test_removing_part_of_a_word_is_loss_but_not_a_lost_word():
    m = score_documents([DOC], [[(12, 32)]])  # "re." of "here."
    assert m.content_loss > 0 and m.lossy_docs == 0.0


def test_eval_command_reports_the_figures_of_evaluate_model_and_compares(model, model_dir, tmp_path):
    import json

    from click.testing import CliRunner

    from promofilter.cli import cli
    from promofilter.corpus import generate, load_corpus
    from promofilter.training import evaluate_model

    docs = generate(load_corpus(), 40, seed=123)
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({k: d[k] for k in ("id", "text", "promo_spans")}) + "\n" for d in docs))
    env = {"PROMOFILTER_MODEL": str(model_dir)}
    result = CliRunner().invoke(cli, ["eval", str(gold), "--compare", str(model_dir), "--json", "--sweep"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    expected = evaluate_model(model, docs, sweep=True)
    assert out["documents"] == 40
    assert out["model"]["metrics"] == out["compare"]["metrics"] == json.loads(json.dumps(expected["metrics"]))
    assert len(out["model"]["sweep"]) == 19
    table = CliRunner().invoke(cli, ["eval", str(gold)], env=env).stdout
    assert f"{expected['metrics']['precision']:.3f}" in table and "content_loss" in table


def test_eval_command_names_the_bad_line(tmp_path):
    from click.testing import CliRunner

    from promofilter.cli import cli

    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"text": "abc", "promo_spans": []}\n{"text": "abc", "promo_spans": [[0, 9, "ad"]]}\n')
    result = CliRunner().invoke(cli, ["eval", str(gold)])
    assert result.exit_code == 1 and f"{gold}:2" in result.stderr
