"""The authored corpus and its generator: big and broad enough, deterministic, honest splits."""
import pytest

from promofilter import Kind
from promofilter.corpus import generate, load_corpus, split_corpus, split_folds


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


def test_corpus_meets_the_size_the_issue_asks_for(corpus):
    assert len(corpus.articles) >= 300
    assert len({a.domain for a in corpus.articles}) >= 12
    assert sum(len(f.templates) for f in corpus.families) >= 600
    assert {f.kind for f in corpus.families} == set(Kind.promo_kinds())
    assert len([n for t, n in corpus.negatives if not t.startswith("furniture:")]) >= 300


def test_family_names_are_unique(corpus):
    names = [f.name for f in corpus.families]
    assert len(names) == len(set(names))


def test_generated_spans_are_sorted_disjoint_and_trimmed(corpus):
    for doc in generate(corpus, 300, seed=5):
        text, pos = doc["text"], 0
        for start, end, kind in doc["promo_spans"]:
            assert pos <= start < end <= len(text)
            assert not text[start].isspace() and not text[end - 1].isspace()
            Kind(kind)
            pos = end


def test_generator_is_deterministic_for_a_seed(corpus):
    assert generate(corpus, 50, seed=9) == generate(corpus, 50, seed=9)
    assert generate(corpus, 50, seed=9) != generate(corpus, 50, seed=10)


def test_generator_makes_clean_glued_and_crlf_documents(corpus):
    docs = generate(corpus, 400, seed=1)
    assert any(not d["promo_spans"] for d in docs)
    assert any("\r\n" in d["text"] for d in docs)
    glued = 0
    for d in docs:
        for start, _, _ in d["promo_spans"]:
            line_start = d["text"].rfind("\n", 0, start) + 1
            glued += bool(d["text"][line_start:start].strip())
    assert glued > 20


def test_test_split_shares_no_article_family_or_negative_with_training(corpus):
    train, test = split_corpus(corpus, 0.2, salt="test")
    assert test.articles and test.families
    assert not {a.slug for a in train.articles} & {a.slug for a in test.articles}
    assert not {f.name for f in train.families} & {f.name for f in test.families}
    assert not {n for _, n in train.negatives} & {n for _, n in test.negatives}


def test_folds_partition_the_corpus(corpus):
    folds = split_folds(corpus, 3)
    assert sum(len(f.articles) for f in folds) == len(corpus.articles)
    assert sum(len(f.families) for f in folds) == len(corpus.families)


def test_a_kind_may_have_several_template_files(corpus):
    # promos/boilerplate_web_residue.txt: page code left in scraped text is boilerplate
    residue = [f for f in corpus.families if f.name.startswith("bp-css-")]
    assert residue and all(f.kind is Kind.BOILERPLATE for f in residue)


def test_datelines_open_ledes_as_article_text(corpus):
    import re

    # "CITY (Agency) --" and "CITY--(WIRE)--" are the story's, not chrome around it
    dateline = re.compile(r"[A-Z]{3,}[A-Z .]*(?:, [^\n]{2,40}?)? ?(?:\([A-Za-z .]+\) ?[-—–]+|--\([A-Za-z .]+\)--|/[A-Za-z .]+/ --)")
    found = 0
    for doc in generate(corpus, 400, seed=2):
        for m in dateline.finditer(doc["text"]):
            found += 1
            assert not any(s < m.end() <= e for s, e, _ in doc["promo_spans"]), m.group()
    assert found >= 20


def test_the_corpus_is_the_one_the_shipped_model_was_built_from(corpus):
    # the card names its corpus by sha256: a corpus edit without a rebuild of models/ fails here
    import json
    from pathlib import Path

    card = Path(__file__).resolve().parent.parent / "models" / "model_card.json"
    assert corpus.sha256() == json.loads(card.read_text(encoding="utf-8"))["corpus"]["sha256"]
