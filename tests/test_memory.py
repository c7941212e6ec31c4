"""Learned examples as a memory: lines worded like an example are decided like it."""
from promofilter.memory import ExampleMemory, shingles
from promofilter.stripping import MEMORY_KEY, PromoFilter

PLUG = "Need press? Kaiko places your token story in 3928+ outlets overnight."
ARTICLE = ("The council approved the budget on Tuesday after a long debate about road repairs.\n"
           "{line}\n"
           "Members said the plan would be reviewed again in the spring, and the mayor agreed.\n"
           "The vote was seven to two.\n")


def test_numbers_and_links_do_not_matter_but_the_wording_does():
    memory = ExampleMemory([{"text": PLUG, "label": "promo", "kind": "ad"}])
    assert memory.match("Need press? Kaiko places your token story in 12+ outlets overnight!") == (True, "ad")
    assert memory.match("Need press? Kaiko places your story at https://x.io in 7 outlets overnight.") is not None
    assert memory.match("The agency places stories in several outlets, its founder said.") is None
    assert memory.match("Need press?") is None  # one bigram: left to the classifier


def test_a_keep_example_wins_a_tie_and_masking_is_stable():
    memory = ExampleMemory([{"text": PLUG, "label": "promo", "kind": "ad"},
                            {"text": PLUG.replace("3928", "7"), "label": "content", "kind": None}])
    assert memory.match(PLUG) == (False, None)
    assert shingles("Up 4.5% at 10:30") == shingles("Up 12% at 9:15")


def test_a_sentence_glued_before_a_learned_line_is_not_part_of_it_but_its_short_lead_in_is():
    memory = ExampleMemory([{"text": PLUG, "label": "promo", "kind": "ad"}])
    glued = ["The vote was seven to two, with one member absent.", "Need press?",
             "Kaiko places your token story in 3928+ outlets overnight."]
    assert sorted(memory.decide(glued, [0, 0, 0])) == [1, 2]
    long_paragraph = ["The council met for four hours and heard from dozens of residents about the plan, "
                      "which would widen the road and add a protected bike lane on both sides."] + glued[1:]
    assert sorted(memory.decide(long_paragraph, [0, 0, 0])) == [1, 2]
    assert memory.decide(["Need press?", "The mayor declined to comment."], [0, 0]) == {}


def test_ties_are_decided_the_same_way_whatever_the_hash_seed():
    import subprocess
    import sys

    code = ("from promofilter.memory import ExampleMemory; m = ExampleMemory(["
            "{'text': 'Subscribe today and get our free weekly newsletter', 'label': 'promo', 'kind': 'cta'},"
            "{'text': 'get our free weekly newsletter delivered every Friday', 'label': 'promo', 'kind': 'ad'}]);"
            "print(m.match('Subscribe today and get our free weekly newsletter delivered every Friday'))")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout for seed in range(6)}
    assert outputs == {"(True, 'cta')\n"}


def _removed_chars(model, doc):
    return {i for s in model.detect(doc) if s.removed for i in range(s.start, s.end)}


# an ordinary sentence no model removes, taught as a promo (the memory does what it is told)
ODD = "Members of the finance committee meet every Thursday at the old library on Elm Street."
TRAILER = "Subscribe to our newsletter for daily market updates and exclusive offers!"


def test_a_model_removes_a_learned_line_wherever_it_sits(shipped_model):
    base = shipped_model
    taught = PromoFilter(base.classifier, base.threshold,
                         {**base.metadata, MEMORY_KEY: [{"text": ODD, "label": "promo", "kind": "ad"}]})
    for line in (ODD, ODD.replace("Thursday", "Friday")):  # the example, and the line with a word changed
        doc = ARTICLE.format(line=line)
        start = doc.index(line)
        assert not _removed_chars(base, doc) & set(range(start, start + len(line)))  # premise: kept
        assert set(range(start, start + len(line))) <= _removed_chars(taught, doc)
        newly = _removed_chars(taught, doc) - _removed_chars(base, doc)
        assert all(start - 1 <= i <= start + len(line) for i in newly)  # the line (and a separator) only
        on_line = [s for s in taught.detect(doc) if s.removed and start <= s.start < start + len(line)]
        assert {s.kind.value for s in on_line} == {"ad"} and {s.decision.value for s in on_line} == {"learned"}


def test_a_keep_example_keeps_what_the_model_would_remove_and_says_why(shipped_model):
    base = shipped_model
    article = ARTICLE.format(line="Residents spoke for more than two hours before the vote.")
    text = article + TRAILER + "\n"
    assert base.strip(text) == article  # premise: the model removes the trailer
    kept = PromoFilter(base.classifier, base.threshold,
                       {**base.metadata, MEMORY_KEY: [{"text": TRAILER, "label": "content", "kind": None}]})
    assert kept.strip(text) == text
    assert [s.decision.value for s in kept.detect(text) if s.text.strip() == TRAILER] == ["learned"]
