"""Early exit from stage 2's trees (promofilter/early_exit.py): when stripping, segments whose
first trees already put them far under every threshold stop there; what is removed, and the
scores and kinds of what is removed, stay exactly those of all the trees."""
import copy
import math

import numpy as np
import pytest

import promofilter
from promofilter import native
from promofilter.corpus import generate, load_corpus
from promofilter.early_exit import EXIT_KEY, SLACK, EarlyExit, calibrate, fingerprint, partial_and_full
from promofilter.policy import StripNeeds
from promofilter.results import StripConfig


def _without_exit(model):
    plain = copy.copy(model)
    plain.metadata = {k: v for k, v in model.metadata.items() if k != EXIT_KEY}
    assert plain.early_exit is None
    return plain


@pytest.fixture(scope="module")
def fresh_texts():
    """Documents no build draws (their own generator seed)."""
    return [d["text"] for d in generate(load_corpus(), 400, seed=777_001, prefix="fresh")]


def _rows(trees, n=900, seed=3):
    return np.random.default_rng(seed).normal(size=(n, trees.n_features)) * 3


@pytest.mark.parametrize("compiled", [True, False])
def test_rows_that_go_on_get_exactly_the_score_of_all_the_trees(shipped_model, compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(native, "core", lambda: None)
    elif native.core() is None:
        pytest.skip("the compiled core is not built")
    trees = shipped_model.classifier.stage2
    X = _rows(trees)
    full = trees.predict_proba(X)
    partial = trees.predict_proba(X, (75, 10.0))  # (a bound no row reaches: all stop)
    bound = float(np.median(np.log(partial / (1 - partial))))
    early = trees.predict_proba(X, (75, bound))
    going = np.log(partial / (1 - partial)) >= bound
    assert 0 < going.sum() < len(X)
    assert np.array_equal(early[going], full[going])  # the same sums in the same order, bit for bit
    assert np.array_equal(early[~going], partial[~going])
    assert (early[~going] < 1 / (1 + math.exp(-bound))).all()


def test_rows_marked_to_finish_go_on_whatever_their_sum(shipped_model):
    trees = shipped_model.classifier.stage2
    X = _rows(trees, 300)
    finish = np.zeros(len(X), dtype=bool)
    finish[::3] = True
    early = trees.predict_proba(X, (75, 50.0), finish)  # every other row stops
    full = trees.predict_proba(X)
    assert np.array_equal(early[finish], full[finish])
    assert not np.isclose(early[~finish], full[~finish]).all()


def test_compiled_and_numpy_trees_stop_the_same_rows_with_the_same_scores(shipped_model, monkeypatch):
    if native.core() is None:
        pytest.skip("the compiled core is not built")
    trees = shipped_model.classifier.stage2
    X = _rows(trees, 700, seed=8)
    X[::7, 2] = np.nan  # missing values too
    compiled = trees.predict_proba(X, (75, -1.0))
    monkeypatch.setattr(native, "core", lambda: None)
    assert np.array_equal(trees.predict_proba(X, (75, -1.0)), compiled)


@pytest.mark.parametrize("config", [None, StripConfig(threshold=0.5), StripConfig(threshold=0.3, run_threshold=0.2),
                                    StripConfig(threshold=0.95), StripConfig(remove_kinds={"credit"})],
                         ids=["default", "t0.5", "t0.3-runs", "t0.95", "credits-only"])
def test_stripping_removes_exactly_what_all_the_trees_remove(shipped_model, fresh_texts, config):
    assert shipped_model.early_exit is not None
    plain = _without_exit(shipped_model)
    assert shipped_model.strip_many(fresh_texts, config) == plain.strip_many(fresh_texts, config)
    early = [s.removed for s in shipped_model.explain_many(fresh_texts, config)]
    assert early == [s.removed for s in plain.explain_many(fresh_texts, config)]  # scores and kinds too
    assert sum(map(len, early)) > 0


def test_batch_mode_strips_exactly_and_stops_only_segments_that_recur_in_no_other_document(shipped_model,
                                                                                        monkeypatch):
    from promofilter import scoring
    from promofilter.corpus import generate_batches
    from promofilter.signals import segment_columns

    docs = generate_batches(load_corpus(), 240, seed=777_002, prefix="fresh-batch")
    texts, sites = [d["text"] for d in docs], [d["site"] for d in docs]
    plain = _without_exit(shipped_model)
    counts = shipped_model.count_repetition(texts, sites)
    early = [(s.text, s.removed) for s in shipped_model.explain_many(texts, sites=sites, repetition=counts)]
    # the scores alone of what repetition removed are exact too
    assert early == [(s.text, s.removed) for s in plain.explain_many(texts, sites=sites, repetition=counts)]
    assert any(span.by_repetition for _, removed in early for span in removed)
    calls = []
    predict = scoring._Trees.predict_proba
    stage2 = shipped_model.classifier.stage2

    def spy(self, X, early_exit=None, finish=None):
        calls.append((self is stage2, len(X), early_exit, finish))
        return predict(self, X, early_exit, finish)

    monkeypatch.setattr(scoring._Trees, "predict_proba", spy)
    n_segments = len(segment_columns(texts)[0]["doc"])
    assert shipped_model.strip_many(texts, sites=sites, batch=True) == [text for text, _ in early]
    # stripping: each segment scored once, by the batch head if it recurs, else by stage 2 with the exit
    assert all(exit is not None for own, _, exit, _ in calls if own)
    assert 0 < sum(n for own, n, _, _ in calls if not own) < n_segments
    assert sum(n for _, n, _, _ in calls) == n_segments
    calls.clear()
    list(shipped_model.explain_many(texts, sites=sites, repetition=counts))
    # describing: stage 2 scores every segment (the scores alone), those that recur to the end
    own = [(n, exit, finish) for is_stage2, n, exit, finish in calls if is_stage2]
    assert sum(n for n, _, _ in own) == n_segments
    assert all(exit is not None and finish.any() and not finish.all() for _, exit, finish in own)


def test_detecting_never_stops_early(shipped_model, fresh_texts):
    plain = _without_exit(shipped_model)
    assert list(shipped_model.detect_many(fresh_texts[:60])) == list(plain.detect_many(fresh_texts[:60]))


def test_the_exit_does_stop_most_segments_when_stripping(shipped_model, fresh_texts):
    exit = shipped_model.early_exit
    first, partial, full = partial_and_full(shipped_model.classifier, fresh_texts)
    assert first == exit.trees
    stops = partial < exit.bound_for(StripNeeds(StripConfig(), shipped_model.threshold,
                                               shipped_model.run_threshold).floor)
    assert stops.mean() > 0.5


def test_calibrated_bounds_hold_with_their_margin_on_the_calibration_documents(shipped_model, fresh_texts):
    exit = calibrate(shipped_model.classifier, fresh_texts[:150], margin=2.5)
    first, partial, full = partial_and_full(shipped_model.classifier, fresh_texts[:150])
    assert exit.trees == first and exit.fingerprint == fingerprint(shipped_model.classifier, first)
    assert exit.margin == 2.5 and EarlyExit.from_metadata(exit.to_metadata()) == exit
    for floor, bound in exit.bounds:
        logit = math.log(floor / (1 - floor))
        assert bound <= logit - SLACK
        assert (partial[full >= logit] >= bound + 2.5 - 1e-12).all()


def test_a_floor_uses_the_bound_of_the_calibrated_floor_under_it():
    exit = EarlyExit(10, ((0.1, -5.0), (0.5, -3.0), (0.9, -1.0)), "x")
    assert exit.bound_for(0.05) is None  # nothing calibrated that low: every score exact
    assert exit.bound_for(0.1) == -5.0
    assert exit.bound_for(0.7) == -3.0
    assert exit.bound_for(math.inf) == -1.0  # (no kind removed)


@pytest.mark.parametrize("entry", [
    "nonsense", {}, {"trees": "75", "bounds": [[0.5, -3]], "sha256": "x"},
    {"trees": 75, "bounds": [[1.5, -3]], "sha256": "x"}, {"trees": 75, "bounds": [[0.5, "nan"]], "sha256": "x"},
    {"trees": 75, "bounds": [[0.9, -1], [0.5, -3]], "sha256": "x"}, {"trees": True, "bounds": [], "sha256": "x"},
    {"trees": 75, "bounds": [[0.5, 0.1]], "sha256": "x"},  # (a stopped segment could score over 0.5)
    {"trees": 75, "bounds": [[0.5, 0.0]], "sha256": "x"},  # (one just under 0.0 could round to 0.5)
    {"trees": 75, "bounds": [[0.5, -1.0], [0.9, -2.0]], "sha256": "x"},  # (bounds fall as floors rise)
    {"trees": 75, "bounds": [[0.5, -1.0]], "sha256": "x", "margin": "wide"},
])
def test_malformed_bounds_in_a_model_file_are_ignored(entry):
    assert EarlyExit.from_metadata(entry) is None


@pytest.mark.parametrize("counts", [{"documents": "many"}, {"documents": 1e400}, {"segments": [1]}, {"documents": -3}])
def test_odd_counts_in_a_model_file_neither_crash_nor_turn_the_exit_off(shipped_model, counts):
    odd = copy.copy(shipped_model)
    odd.metadata = dict(shipped_model.metadata, **{EXIT_KEY: dict(shipped_model.metadata[EXIT_KEY], **counts)})
    assert odd.early_exit is not None
    assert odd.strip("A sentence.\nSubscribe to our newsletter!") == shipped_model.strip("A sentence.\nSubscribe to our newsletter!")


def test_bounds_edited_in_place_are_checked_again(shipped_model):
    edited = copy.copy(shipped_model)
    edited.metadata = copy.deepcopy(shipped_model.metadata)
    assert edited.early_exit is not None
    edited.metadata[EXIT_KEY]["trees"] = 10  # (bounds are for a number of trees: the fingerprint says which)
    assert edited.early_exit is None


def test_bounds_are_for_the_inputs_of_the_trees_too(shipped_model):
    import numpy as np

    other = copy.copy(shipped_model)
    other.classifier = copy.copy(shipped_model.classifier)
    other.classifier.stage1 = copy.copy(shipped_model.classifier.stage1)
    other.classifier.stage1.intercept = shipped_model.classifier.stage1.intercept + np.float64(0.5)
    assert shipped_model.early_exit is not None and other.early_exit is None


def test_bounds_of_other_trees_are_ignored(shipped_model, fresh_texts):
    other = copy.copy(shipped_model)
    entry = dict(shipped_model.metadata[EXIT_KEY], sha256="0" * 64)
    other.metadata = dict(shipped_model.metadata, **{EXIT_KEY: entry})
    assert other.early_exit is None
    assert other.strip_many(fresh_texts[:20]) == shipped_model.strip_many(fresh_texts[:20])


def test_a_model_file_with_broken_bounds_still_loads_and_strips_exactly(tmp_path, model_dir, fresh_texts):
    import json
    import shutil

    shutil.copytree(model_dir, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta[EXIT_KEY] = {"trees": -4, "bounds": "all", "sha256": None}
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    broken = promofilter.load_model(tmp_path / "m")
    assert broken.early_exit is None
    assert broken.strip_many(fresh_texts[:30]) == _without_exit(promofilter.load_model(model_dir)).strip_many(fresh_texts[:30])


def test_a_build_calibrates_its_model_and_the_model_file_keeps_the_bounds(model):
    exit = model.early_exit
    assert exit is not None and exit.documents > 0 and exit.segments > exit.documents
    assert exit.trees == round(0.3 * len(model.classifier.stage2.roots))


def test_feed_footer_candidates_always_get_their_exact_score():
    needs = StripNeeds(StripConfig(), 0.9, 0.85)
    assert needs.floor == 0.85
    assert needs.exact(["The post A appeared first on B.", "Other text."]).tolist() == [True, False]
    assert needs.exact(["Other text.", "A post office."]) is None
    assert needs.exact(["Other text.", "At The post office."]).tolist() == [False, False]
    assert StripNeeds(StripConfig(builtin_rules=False), 0.9).exact(["The post A appeared first on B."]) is None
    # given the documents, only the segments of those that say "The post" are looked at
    documents = ["Story. The post A appeared first on B.", "Other text. The post office."]
    segments = ["Story.", "The post A appeared first on B.", "Other text.", "The post office."]
    assert needs.exact(segments, documents, np.array([0, 0, 1, 1])).tolist() == [False, True, False, True]
    assert needs.exact(segments[:2], documents[:1], np.array([0, 0])).tolist() == [False, True]
    assert needs.exact(["Other text."], ["Other text."], np.array([0])) is None


def test_a_user_block_rule_keeps_every_score_exact(shipped_model, fresh_texts):
    from promofilter.rules import Rule

    config = StripConfig(rules=(Rule("council", "block", "council", "literal", kind="credit"),
                                Rule("market", "block", "market", "literal"), Rule("season", "block", "season", "literal")))
    assert not StripNeeds(config, 0.9).may_stop
    assert StripNeeds(StripConfig(rules=(Rule("x", "allow", "x", "literal"),)), 0.9).may_stop
    plain = _without_exit(shipped_model)
    early = [s.removed for s in shipped_model.explain_many(fresh_texts, config)]
    assert early == [s.removed for s in plain.explain_many(fresh_texts, config)]
    assert any(span.rule for spans in early for span in spans)
