"""Trailer mining and segment-row samples: find what repeats, label it, feed it back to train."""
import csv
import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from promofilter.build import BuildError, load_samples
from promofilter.cli import cli
from promofilter.mining import mine, template_of

STORIES = [
    "Council approves budget for new library in Marden.",
    "Storm closes schools across the northern valley.",
    "Local bakery wins regional prize for sourdough.",
    "Rail operator adds evening trains to the coast.",
]


def _docs():
    return [f"{story}\nThe vote was {i + 5} to {i}.\nThe post {story.rstrip('.').title()} appeared first on Marden Daily.\n"
            f"Follow @mardendaily{i} for more.\n" for i, story in enumerate(STORIES)]


def test_instances_of_one_trailer_fold_into_one_template():
    a = template_of("The post Council Approves Budget appeared first on Marden Daily.")
    b = template_of("The post Storm Closes Schools appeared first on Marden Daily.")
    assert a == b == "The post {name} appeared first on {name}."
    assert template_of("Follow @mardendaily1 for 24/7 news at https://x.example/a") == \
        "Follow {handle} for {number} news at {url}"


def test_mine_counts_documents_and_ranks_by_them():
    mined = mine(_docs(), min_docs=3)
    templates = [m.template for m in mined]
    assert templates == sorted(templates)  # all in four documents: ties broken by template
    assert "The vote was {number} to {number}." in templates  # real sentences repeat too: labels decide
    assert {"Follow {handle} for more.", "The post {name} appeared first on {name}."} <= set(templates)
    assert all(m.documents == 4 for m in mined if m.template.startswith(("Follow", "The post")))
    assert not any(s.split()[0] in m.template for m in mined for s in STORIES)  # unique lines are not mined


def test_mine_command_writes_a_csv_ready_to_label(model_dir, tmp_path):
    corpus = tmp_path / "crawl.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "body": d}) + "\n" for i, d in enumerate(_docs())))
    out = tmp_path / "mined.csv"
    result = CliRunner().invoke(cli, ["mine", str(corpus), "--field", "body", "-o", str(out)],
                                env={"PROMOFILTER_MODEL": str(model_dir)})
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and set(rows[0]) >= {"template", "documents", "mean_score", "text", "label", "kind"}
    assert all(0 <= float(r["mean_score"]) <= 1 for r in rows)


def test_labelled_mined_rows_become_training_documents(tmp_path):
    path = tmp_path / "labelled.csv"
    pd.DataFrame({
        "text": ["Follow @mardendaily for more.", "The vote was 5 to 0.", "Unlabelled line here."],
        "label": ["promo", "content", ""], "kind": ["cta", "", ""], "model_kind": ["", "", ""],
    }).to_csv(path, index=False)
    docs = load_samples(path)
    assert [d["promo_spans"] for d in docs] == [[[0, 29, "cta"]], []]


def test_segment_rows_in_jsonl_and_the_gold_shape_both_load(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "  Read more: rates explained\\n", "label": "crosspromo"}\n')
    assert load_samples(rows)[0]["promo_spans"] == [[2, 28, "crosspromo"]]
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"text": "Story. Ad.", "promo_spans": [[7, 10, "ad"]]}\n')
    assert load_samples(gold)[0]["promo_spans"] == [[7, 10, "ad"]]


@pytest.mark.parametrize("frame, problem", [
    ({"text": ["x"], "label": ["promo"], "kind": [""]}, "row 1: a promo row needs a kind"),
    ({"text": ["x"], "label": ["maybe"]}, "row 1: label must be promo, content or a kind"),
    ({"text": ["x"]}, "needs columns text and label"),
])
def test_bad_segment_rows_name_the_file_row_and_problem(tmp_path, frame, problem):
    path = tmp_path / "bad.csv"
    pd.DataFrame(frame).to_csv(path, index=False)
    with pytest.raises(BuildError, match=problem):
        load_samples(path)
