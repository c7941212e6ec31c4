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


def test_a_model_removes_a_learned_line_wherever_it_sits_and_keeps_a_kept_one(shipped_model):
    base = shipped_model
    taught = PromoFilter(base.classifier, base.threshold,
                         {**base.metadata, MEMORY_KEY: [{"text": PLUG, "label": "promo", "kind": "ad"}]})
    for line in (PLUG, PLUG.replace("3928", "51")):  # the example, and the same line with another number
        doc = ARTICLE.format(line=line)
        start = doc.index(line)
        newly = {i for s in taught.detect(doc) for i in range(s.start, s.end)} - \
            {i for s in base.detect(doc) for i in range(s.start, s.end)}
        assert set(range(start, start + len(line))) <= {i for s in taught.detect(doc) for i in range(s.start, s.end)}
        assert all(start - 1 <= i <= start + len(line) for i in newly)  # the line (and a separator) only
        assert {s.kind.value for s in taught.detect(doc) if s.start <= start < s.end} == {"ad"}
    kept = PromoFilter(base.classifier, base.threshold,
                       {**base.metadata, MEMORY_KEY: [{"text": PLUG, "label": "content", "kind": None}]})
    text = ARTICLE.format(line=PLUG)
    assert kept.strip(text) == text
