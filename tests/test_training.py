"""How the build chooses its threshold on validation documents."""
from types import SimpleNamespace

from promofilter.results import Kind
from promofilter.segment import segment
from promofilter.training import RUN_THRESHOLD, THRESHOLD_CHOICES, choose_threshold, run_threshold_for


def _scored(text: str, scores: list[float]):
    segments = [s for s in segment(text) if s.content_end > s.content_start]
    assert len(segments) == len(scores)
    return SimpleNamespace(segments=segments, scores=scores, kinds=[Kind.CTA] * len(scores), learned=None)


def test_the_threshold_is_chosen_between_the_coarse_steps_where_the_budget_is_met():
    text = "The council approved the budget on Tuesday after a long debate.\nSubscribe to our newsletter for more.\n"
    doc = {"text": text, "promo_spans": [[text.index("Subscribe"), len(text) - 1, "cta"]]}
    # the article sentence scores 0.91 and the promo 0.93: 0.90 removes the article, 0.95 keeps the promo
    threshold, sweep = choose_threshold([doc], [_scored(text, [0.91, 0.93])], max_content_loss=0.002)
    assert threshold == 0.93
    assert [t for t, _ in sweep] == list(THRESHOLD_CHOICES)


def test_without_a_threshold_in_budget_the_highest_lowest_loss_one_is_chosen():
    text = "The council approved the budget on Tuesday after a long debate.\n"
    threshold, _ = choose_threshold([{"text": text, "promo_spans": []}], [_scored(text, [1.0])], 0.002)
    assert threshold == max(THRESHOLD_CHOICES)


def test_runs_ship_only_with_a_threshold_above_the_run_threshold():
    assert run_threshold_for(0.92) == RUN_THRESHOLD < 0.92
    assert run_threshold_for(RUN_THRESHOLD) is None
    assert run_threshold_for(0.5) is None


def test_evaluation_applies_the_models_runs_only_at_its_own_threshold(monkeypatch):
    import promofilter.training as training

    seen = []
    monkeypatch.setattr(training, "scored_documents", lambda model, docs: [])
    monkeypatch.setattr(training, "metrics_at", lambda docs, scored, t, config=None, run_threshold=None:
                        seen.append((t, run_threshold)) or SimpleNamespace(to_dict=dict))
    model = SimpleNamespace(threshold=0.92, run_threshold=0.85)
    training.evaluate_model(model, [])
    training.evaluate_model(model, [], threshold=0.92)  # a threshold of your own, even the same one
    assert seen == [(0.92, 0.85), (0.92, None)]
