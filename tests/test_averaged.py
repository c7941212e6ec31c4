"""An averaged model: several members, each fit on its own draw of generated documents, scored
as the mean of their scores; built, saved, loaded, scored without scikit-learn and retrained as
a single model is."""
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def averaged_dir(tmp_path_factory):
    from promofilter.build import build_model

    out = tmp_path_factory.mktemp("averaged")
    build_model(out_dir=out, corpus_dir=ROOT / "training" / "corpus", n_train_docs=300, n_eval_docs=100,
                realworld=False, plots=False, command="pytest averaged", batch_share=0.4, members=2, refit=False)
    return out


@pytest.fixture(scope="module")
def averaged(averaged_dir):
    import promofilter

    return promofilter.load_model(averaged_dir)


@pytest.fixture(scope="module")
def table():
    from promofilter.corpus import generate, load_corpus
    from promofilter.signals import build_table

    return build_table([d["text"] for d in generate(load_corpus(), 60, seed=29)])[0]


def test_the_card_and_the_estimator_name_the_members(averaged, averaged_dir):
    import json

    from promofilter.model import AveragedClassifier, PromoClassifier

    assert json.loads((averaged_dir / "model_card.json").read_text())["members"] == 2
    estimator = averaged.estimator()
    assert isinstance(estimator, AveragedClassifier)
    assert [type(m) for m in estimator.members_] == [PromoClassifier, PromoClassifier]


def test_members_learned_from_different_documents(averaged, table):
    first, second = averaged.estimator().members_
    assert not np.allclose(first.score_kind_alone(table)[0], second.score_kind_alone(table)[0])


def test_scores_are_the_members_mean_and_kinds_the_first_members(averaged, table):
    estimator = averaged.estimator()
    scores, kinds, _ = estimator.score_kind_alone(table)
    per_member = [m.score_kind_alone(table) for m in estimator.members_]
    np.testing.assert_allclose(scores, np.mean([p for p, _, _ in per_member], axis=0), rtol=0, atol=1e-15)
    assert kinds == per_member[0][1]
    # only the first member carries a kind model: the others would add its weights to the file
    assert estimator.members_[0].kind_model_ is not None
    assert estimator.members_[1].kind_model_ is None


def test_a_loaded_averaged_model_is_scored_by_numpy_as_its_estimator_scores_it(averaged, table):
    from promofilter.scoring import CompiledEnsemble
    from promofilter.stripping import PromoFilter

    assert isinstance(averaged.classifier, CompiledEnsemble)
    mine, my_kinds, _ = averaged.classifier.score_kind_alone(table)
    theirs, their_kinds, _ = averaged.estimator().score_kind_alone(table)
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-12)
    assert my_kinds == their_kinds
    from promofilter.corpus import generate, load_corpus

    documents = [d["text"] for d in generate(load_corpus(), 40, seed=31)]
    estimator = PromoFilter(averaged.estimator(), averaged.threshold, averaged.metadata, averaged.run_threshold)
    assert averaged.uses_repetition  # the members' batch heads are compared too
    counts = averaged.count_repetition(documents)
    for repetition in (None, counts):  # alone, and batch mode (the members' batch heads)
        mine = [[(s.start, s.end, s.kind, s.removed, round(s.score, 12)) for s in r]
                for r in averaged.detect_many(documents, repetition=repetition)]
        theirs = [[(s.start, s.end, s.kind, s.removed, round(s.score, 12)) for s in r]
                  for r in estimator.detect_many(documents, repetition=repetition)]
        assert mine == theirs


def test_an_averaged_model_strips_and_keeps_every_other_character(averaged):
    text = ("The council approved the budget on Tuesday after a long debate about road repairs.\r\n"
            "Members said the plan would be reviewed again in the spring.\r\n"
            "Subscribe to our newsletter for the latest local news delivered to your inbox!\r\n")
    result = averaged.strip_and_explain(text)
    kept, pos = [], 0
    for span in result.removed:
        kept.append(text[pos:span.start])
        pos = span.end
    kept.append(text[pos:])
    assert result.text == "".join(kept)
    assert result.text.startswith("The council approved the budget")


def test_an_averaged_model_strips_exactly_what_it_detects(averaged):
    # stripping names kinds (the first member's) only where they can matter, on the mean score
    from promofilter import StripConfig
    from promofilter.corpus import generate, load_corpus

    documents = [d["text"] for d in generate(load_corpus(), 30, seed=31)]
    for config in (StripConfig(), StripConfig(threshold=0.4, kind_thresholds={"cta": 0.1})):
        detected = [tuple(s for s in spans if s.removed) for spans in averaged.detect_many(documents, config)]
        assert [r.removed for r in averaged.explain_many(documents, config)] == detected
        assert any(detected)


def test_fitting_needs_the_member_of_each_row(table):
    from promofilter.model import AveragedClassifier

    with pytest.raises(ValueError, match="member"):
        AveragedClassifier().fit(table, ["content"] * len(table))


def test_a_build_needs_at_least_one_member(tmp_path):
    from promofilter.build import BuildError, build_model

    with pytest.raises(BuildError, match="at least 1"):
        build_model(out_dir=tmp_path / "m", members=0, realworld=False, plots=False)
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"text": "Follow us on X for more.", "promo_spans": [[0, 24, "cta"]]}\n')
    with pytest.raises(BuildError, match="authored corpus"):  # members would all learn the same
        build_model(out_dir=tmp_path / "m", use_base=False, samples=[samples], members=2, realworld=False)


def test_learned_examples_correct_every_member(averaged):
    from promofilter.learning import LearnedSample, retrain_with

    line = "Zorblat Quarterly readers get 20% off every gadget with code ZORB20 today"
    learned = retrain_with(averaged, [LearnedSample(line, "promo", "ad", "2026-11-30")], replay_docs=60)
    before = [m.stage1_.coef_.copy() for m in averaged.estimator().members_]
    after = [m.stage1_.coef_ for m in learned.classifier.members_]
    assert all(not np.array_equal(b, a) for b, a in zip(before, after))
    assert [s.removed for s in learned.detect("Rates held steady on Tuesday.\n" + line + "\n")][-1]


def test_each_members_copy_of_a_batch_document_recurs_only_within_that_members_batch():
    from promofilter.build import _as_member
    from promofilter.corpus import generate_batches, load_corpus
    from promofilter.training import MEMBER_KEY, label_documents

    docs = generate_batches(load_corpus(), 40, seed=5)
    alone, _ = label_documents(docs)
    copies = [_as_member(d, k) for k in range(3) for d in docs]
    table, _ = label_documents(copies)
    assert [c[MEMBER_KEY] for c in copies] == [k for k in range(3) for _ in docs]
    # every member's copy of a segment recurs exactly as the segment recurs among the originals
    for k in range(3):
        rows = table.iloc[k * len(alone):(k + 1) * len(alone)]
        assert (rows["rep_norm_docs"].to_numpy() == alone["rep_norm_docs"].to_numpy()).all()
