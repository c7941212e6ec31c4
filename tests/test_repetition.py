"""Batch mode: segments that repeat across the documents of a batch are evidence of promos."""
import json
import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from promofilter.cli import cli
from promofilter.corpus import generate, generate_batches, load_corpus
from promofilter.features import build_table
from promofilter.segment import segment
from promofilter.repetition import (REPETITION_FEATURE_NAMES, RepetitionCounter, count_batch, normal_form,
                                    repetition_features)

ARTICLES = [
    "Harbor officials approved a dredging plan on Tuesday.\nThe project will take two years and cost $40 million.",
    "A regional bakery chain opened its ninth store.\nThe owners said demand for rye bread had doubled since 2021.",
    "The city council delayed a vote on bus lanes.\nResidents on Elm Street asked for more time to comment.",
    "Wheat prices slipped for a third week.\nTraders pointed to a larger harvest in the southern plains.",
]
TRAILER = "The post {} first ran on Quayside Ledger."


PLACES = ("Ashby Marlow Penhale Quorra Redvale Sorrel Tamsin Ulvik Varden Wexley Yarrow Zell Abbotsfield "
          "Brackley Carrow Dunholm Elsmere Farrowby Glenrock Hollins Ivesham Jessop Kilbride Lowther Mossley "
          "Norland Orwell Pellow Quantock Rillington Stavely Thursby Upton Vellow Wyke Yelland Zennor Alby "
          "Brisco Calloway").split()


def _batch(n: int = 24) -> list[str]:
    """Distinct articles (a different town in each sentence), each with the site's trailer."""
    return [ARTICLES[i % len(ARTICLES)].replace(".", f" near {PLACES[i]}.") + "\n"
            + TRAILER.format(f"story about {PLACES[i]}") for i in range(n)]


def _features(texts, sites=None):
    table, _ = build_table(texts)
    return table, pd.DataFrame(repetition_features(table, count_batch(texts, sites), sites),
                               columns=REPETITION_FEATURE_NAMES)


def test_normal_form_masks_case_digits_urls_and_spacing():
    assert normal_form("  Read  MORE at https://x.example/a?b=1 — 24/7 ") == "read more at u — 0/0"


def test_a_segment_alone_in_the_batch_has_no_repetition():
    table, f = _features(["Gold rose on Monday.\nSilver fell.", "Oil was flat.\nCopper gained."])
    assert (f["rep_batch"] == 1).all()
    assert (f.drop(columns=["rep_batch", "rep_log_site_docs"]).to_numpy() == 0).all()


def test_a_trailer_with_a_different_title_in_every_document_still_repeats():
    texts = _batch(6)
    table, f = _features(texts)
    trailer = table["text"].str.startswith("The post").to_numpy()
    assert (f.loc[trailer, "rep_suffix_site_share"] == 1.0).all()
    # article sentences are unique to their document, up to the ones syndicated across it
    assert f.loc[~trailer, "rep_norm_docs"].max() == 0


def test_each_document_counts_once_and_sites_are_counted_apart():
    texts = ["Follow us on Lark.\nFollow us on Lark.\nA story.", "Follow us on Lark.\nAnother story.",
             "Follow us on Lark.\nA third story."]
    table, f = _features(texts, ["a", "a", "b"])
    first = f.iloc[0]
    assert first["rep_norm_docs"] == pytest.approx(np.log1p(2))  # two other documents, not three
    assert first["rep_norm_site"] == pytest.approx(np.log1p(1))  # one other document of site "a"


def test_counts_merged_from_parts_equal_the_counts_of_the_whole():
    texts = _batch(12)
    whole = count_batch(texts)
    merged = RepetitionCounter()
    for part in (texts[:5], texts[5:6], texts[6:]):
        counter = RepetitionCounter()
        counter.add(part)
        merged.merge(counter)
    merged = merged.freeze()
    assert merged.documents == whole.documents == 12
    assert np.array_equal(merged.keys, whole.keys) and np.array_equal(merged.counts, whole.counts)


def test_generated_batches_repeat_site_trailers_and_syndicated_stories():
    docs = generate_batches(load_corpus(), 300, seed=3)
    assert all(d["batch"] and d["site"] for d in docs)
    by_site = {}
    for d in docs:
        by_site.setdefault((d["batch"], d["site"]), []).append(d)
    trailer_texts = [d["text"][s:e] for d in docs for s, e, _ in d["promo_spans"]]
    assert len(set(trailer_texts)) < len(trailer_texts)  # promos recur within sites
    heads = [d["text"][:60] for d in docs]
    assert len(set(heads)) < len(heads)  # some stories run twice in a batch


def test_the_model_learns_from_repetition(shipped_model):
    # the shipped model: the small fixture model's batch head (leaves of at least 100 segments,
    # trained on a few thousand recurring ones) is too coarse to learn this
    model = shipped_model
    assert model.uses_repetition
    texts = _batch(24)
    alone = [[s.score for s in spans if s.text.startswith("The post")][0] for spans in model.detect_many(texts)]
    counts = model.count_repetition(texts)
    in_batch = [[s for s in spans if s.text.startswith("The post")][0]
                for spans in model.detect_many(texts, repetition=counts)]
    assert all(s.score_alone == pytest.approx(a) for s, a in zip(in_batch, alone))
    # repetition raises the trailer's score
    assert np.mean([s.score for s in in_batch]) > np.mean(alone)


def test_batch_output_does_not_depend_on_chunking(model, monkeypatch):
    import promofilter.stripping as stripping

    texts = _batch(30)
    counts = model.count_repetition(texts)
    whole = [r.text for r in model.explain_many(texts, repetition=counts)]
    monkeypatch.setattr(stripping, "BATCH_DOCS", 7)
    assert [r.text for r in model.explain_many(texts, repetition=counts)] == whole
    assert model.strip_many(texts, batch=True) == whole
    assert model.strip_many(texts) == [r.text for r in model.explain_many(texts)]  # alone by default


@pytest.mark.parametrize("max_chars", [10**9, 3_000, 0])
def test_reusing_the_counting_pass_changes_no_output_and_keeps_nothing_after(model, monkeypatch, max_chars):
    # strip_many keeps the counting pass's segments and keys for scoring, up to MAX_CHARS
    import promofilter.repetition as repetition
    import promofilter.reuse as reuse

    texts = _batch(30)
    expected = [r.text for r in model.explain_many(texts, repetition=model.count_repetition(texts))]
    n_segments = sum(len(repetition._segment_texts(text)) for text in texts)
    monkeypatch.setattr(reuse, "MAX_CHARS", max_chars)
    segmented, keyed = [], []
    monkeypatch.setattr(reuse, "segment", lambda text: segmented.append(text) or segment(text))
    hashes = repetition._key_hashes
    monkeypatch.setattr(repetition, "_key_hashes",
                        lambda texts, sites: keyed.extend(zip(texts, sites)) or hashes(texts, sites))
    assert model.strip_many(texts, batch=True) == expected
    # everything fits: each text segmented once, each document's keys computed once; else some twice
    fits = max_chars == 10**9
    assert (len(segmented) == len(texts)) == fits
    assert (len(keyed) == n_segments) == fits
    assert len(keyed) <= 2 * n_segments
    assert reuse._STORE.get() is None


@pytest.mark.parametrize("max_chars", [10**9, 2_000, 0])
def test_kept_keys_give_the_features_computed_afresh(monkeypatch, max_chars):
    # documents of different lengths and repetition, empty and blank ones, a repeat, and sites
    # None, "" and named: the keys the counting pass kept give the features computed afresh
    import promofilter.reuse as reuse

    texts = _batch(12)
    texts = ["", texts[0], "  \n ", texts[1] + "\nOne more line here.", texts[0], "Short.\nTwo.\nThree."] + texts[2:]
    sites = ["a", None, "", "a", "b", None] + ["a" if i % 3 else "b" for i in range(len(texts) - 6)]
    table, _ = build_table(texts)
    afresh = repetition_features(table, count_batch(texts, sites), sites)
    monkeypatch.setattr(reuse, "MAX_CHARS", max_chars)
    with reuse.reusing():
        counts = count_batch(texts, sites)
        table, _ = build_table(texts)
        np.testing.assert_array_equal(repetition_features(table, counts, sites, texts), afresh)
    np.testing.assert_array_equal(repetition_features(table, counts, sites, texts), afresh)  # nothing kept
    assert afresh[:, 1].any() and not afresh[:, 1].all()  # some segments recur, some do not


def test_kept_keys_serve_a_document_only_with_as_many_segments_as_it_had():
    import promofilter.reuse as reuse
    from promofilter.repetition import _key_hashes

    documents, sites = ["First line. Second line.", "Other."], ["a", ""]
    segments = [["First line.", "Second line."], ["Other."]]
    with reuse.reusing():
        first = reuse.key_rows(documents, sites, segments, _key_hashes)
        np.testing.assert_array_equal(first, _key_hashes(["First line.", "Second line.", "Other."], ["a", "a", ""]))
        kept = reuse.key_rows(documents, sites, segments, lambda texts, sites: pytest.fail("computed again"))
        np.testing.assert_array_equal(kept, first)
        fewer = reuse.key_rows(documents, sites, [["Second line."], ["Other."]], _key_hashes)
        np.testing.assert_array_equal(fewer, _key_hashes(["Second line.", "Other."], ["a", ""]))


def test_cli_batch_mode_is_the_same_with_jobs_and_reports_repetition(model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t, "site": "quay"}) + "\n" for i, t in enumerate(_batch(40))))
    runner = CliRunner()
    outputs = {}
    for name, extra in {"one": ["--batch"], "two": ["--batch", "--jobs", "2"], "alone": []}.items():
        out = tmp_path / f"{name}.jsonl"
        report = tmp_path / f"{name}.report.jsonl"
        result = runner.invoke(cli, ["strip", str(src), "-o", str(out), "--model", str(model_dir),
                                     "--site-field", "site", "--report", str(report)] + extra)
        assert result.exit_code == 0, result.output
        outputs[name] = (out.read_bytes(), [json.loads(x) for x in report.read_text().splitlines()])
    assert outputs["one"][0] == outputs["two"][0]
    assert all("by_repetition" in r and "score_alone" in r for r in outputs["one"][1])
    assert not any("by_repetition" in r for r in outputs["alone"][1])


def test_standard_input_is_cleaned_without_a_batch(model_dir):
    text = "\n\n".join(_batch(3))
    result = CliRunner().invoke(cli, ["strip", "--model", str(model_dir), "--report", "-", "-o", "/dev/null"],
                                input=text)
    assert result.exit_code == 0
    assert "by_repetition" not in result.output


def test_pandas_helper_cleans_the_frame_as_one_batch(model):
    from promofilter.pipeline import strip_column

    df = pd.DataFrame({"text": _batch(20), "site": ["quay"] * 20})
    batch = strip_column(df, "text", model, site_column="site", batch=True)
    counts = model.count_repetition(df["text"].tolist(), df["site"].tolist())
    expected = [r.text for r in model.explain_many(df["text"].tolist(), sites=df["site"].tolist(), repetition=counts)]
    assert batch["text"].tolist() == expected
    alone = strip_column(df, "text", model)  # documents alone by default
    assert alone["text"].tolist() == model.strip_many(df["text"].tolist())


def test_eval_scores_a_file_as_one_batch(model_dir, tmp_path):
    gold = tmp_path / "gold.jsonl"
    with gold.open("w") as f:
        for i, text in enumerate(_batch(20)):
            start = text.index("The post")
            f.write(json.dumps({"id": i, "site": "quay", "text": text,
                                "promo_spans": [[start, len(text), "boilerplate"]]}) + "\n")
    runner = CliRunner()
    alone = runner.invoke(cli, ["eval", str(gold), "--model", str(model_dir), "--json"])
    batch = runner.invoke(cli, ["eval", str(gold), "--model", str(model_dir), "--json", "--batch"])
    assert alone.exit_code == 0 and batch.exit_code == 0, batch.output
    recall = [json.loads(r.output)["model"]["metrics"]["recall"] for r in (alone, batch)]
    assert recall[1] >= recall[0]  # the trailer repeats in every document of the file


def test_undecodable_bytes_stay_distinct_keys():
    from promofilter.repetition import _hash

    assert len(set(_hash(["a\udc80b", "a\udcffb", "a\ufffd\ufffd\ufffdb"]).tolist())) == 3


def test_a_batch_of_empty_and_blank_texts_comes_back_as_it_was(model):
    texts = ["", "", "   ", "\n\n"]
    assert model.strip_many(texts, batch=True) == texts
    assert model.strip_many(texts + ["Rates rose. Follow us on X."], batch=True)[:4] == texts


def test_one_text_is_not_a_batch(model):
    text = _batch(1)[0]
    assert model.strip_many([text], batch=True) == [model.strip(text)]
    assert model.count_repetition([text]).documents == 1


def test_an_empty_csv_is_a_clear_error_in_batch_mode(model_dir, tmp_path):
    src = tmp_path / "empty.csv"
    src.write_text("")
    result = CliRunner().invoke(cli, ["strip", str(src), "-o", str(tmp_path / "out.csv"), "--model", str(model_dir),
                                      "--batch"])
    assert result.exit_code == 1 and "empty.csv" in result.output and "Traceback" not in result.output


def test_site_of_text_inputs_does_not_change_record_files(model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in _batch(8)))
    outs = []
    for extra in ([], ["--site", "elsewhere"]):
        out = tmp_path / f"out{len(outs)}.jsonl"
        assert CliRunner().invoke(cli, ["strip", str(src), "-o", str(out), "--model", str(model_dir), "--batch",
                                        "--report", str(tmp_path / f"r{len(outs)}.jsonl")] + extra).exit_code == 0
        outs.append((tmp_path / f"r{len(outs)}.jsonl").read_text())
    assert outs[0] == outs[1]


def test_counting_in_worker_processes_gives_the_same_counts():
    from promofilter.parallel import count_chunks

    texts = _batch(20)
    sites = ["a" if i % 3 else "b" for i in range(len(texts))]
    chunks = [(texts[i:i + 3], sites[i:i + 3]) for i in range(0, len(texts), 3)]
    whole = count_batch(texts, sites)
    for jobs in (1, 2):
        counted = count_chunks(iter(chunks), jobs)
        assert counted.documents == whole.documents
        assert np.array_equal(counted.keys, whole.keys) and np.array_equal(counted.counts, whole.counts)


def test_batch_documents_train_a_head_of_their_own_and_leave_single_documents_alone():
    from promofilter.corpus import split_folds
    from promofilter.training import fit_filter, scored_documents

    corpus = load_corpus()
    parts = list(split_folds(corpus, 3))
    alone = [d for i, part in enumerate(parts) for d in generate(part, 90, seed=20 + i, prefix=f"a{i}", group=i)]
    batches = [d for i, part in enumerate(parts)
               for d in generate_batches(part, 90, seed=40 + i, prefix=f"b{i}", group=i)]
    without = fit_filter(alone, max_iter=40)
    with_head = fit_filter(alone + batches, max_iter=40)
    assert with_head.uses_repetition and not without.uses_repetition
    probe = generate(corpus, 40, seed=7, prefix="p")
    expected = np.concatenate([s.scores for s in scored_documents(without, probe)])
    assert np.array_equal(np.concatenate([s.scores for s in scored_documents(with_head, probe)]), expected)
    # in a batch, only segments that recur elsewhere in it are re-scored by the batch head
    texts = [d["text"] for d in probe]
    counts = with_head.count_repetition(texts)
    scored = with_head.score_batch(texts, counts)
    table, _ = build_table(texts)
    table = pd.concat([table, pd.DataFrame(repetition_features(table, counts), columns=REPETITION_FEATURE_NAMES)],
                      axis=1)
    from promofilter.scoring import recurs as _recurs

    recurs = _recurs(table)
    in_batch = np.concatenate([s.scores for s in scored])
    assert 0 < recurs.sum() < len(recurs)
    assert np.array_equal(in_batch[~recurs], expected[~recurs])
    assert np.array_equal(np.concatenate([s.alone for s in scored]), expected)


def test_a_counter_over_its_memory_budget_spills_to_disk_and_counts_exactly_the_same():
    texts = _batch(40)
    sites = ["a" if i % 3 else "b" for i in range(len(texts))]
    whole = count_batch(texts, sites)
    spilling = RepetitionCounter(max_keys=25)
    for i in range(0, len(texts), 4):
        spilling.add(texts[i:i + 4], sites[i:i + 4])
        spilling._compact()  # fold after every chunk, so the small budget is overrun many times
    assert len(spilling._runs) > 3
    spill_dir = spilling._spill_dir.name
    frozen = spilling.freeze()
    assert np.array_equal(frozen.keys, whole.keys) and np.array_equal(frozen.counts, whole.counts)
    assert frozen.documents == whole.documents
    assert not os.path.exists(spill_dir)  # the runs are removed once added up
    with pytest.raises(ValueError):
        spilling.add(texts[:1])


def test_frozen_counts_keep_only_forms_found_in_two_or_more_documents():
    counts = count_batch(_batch(6))
    assert len(counts.keys) and (counts.counts >= 2).all()


def test_the_batch_head_scores_batch_tables_in_predict_proba_too(model):
    texts = _batch(12)
    counts = model.count_repetition(texts)
    table, _ = build_table(texts)
    features = repetition_features(table, counts)
    for j, name in enumerate(REPETITION_FEATURE_NAMES):
        table[name] = features[:, j]
    p, _, _ = model.classifier.score_kind_alone(table)
    assert np.array_equal(model.classifier.predict_proba(table)[:, 1], p)


def test_totals_of_a_counter_that_spilled_hold_every_key_and_a_frozen_one_refuses():
    texts = _batch(16)
    whole = RepetitionCounter(max_keys=10**9)
    whole.add(texts)
    spilling = RepetitionCounter(max_keys=20)
    for i in range(0, len(texts), 2):
        spilling.add(texts[i:i + 2])
        spilling._compact()
    keys, counts, documents = spilling.totals()
    expected = whole.totals()
    assert np.array_equal(keys, expected[0]) and np.array_equal(counts, expected[1]) and documents == 16
    assert (counts == 1).any()  # keys of one document are part of a part's totals
    spilling.add(texts[:1])
    spilling._compact()
    spilling.freeze()
    with pytest.raises(ValueError):
        spilling.totals()


def test_key_ranges_added_up_separately_equal_the_whole_count():
    from promofilter.repetition import add_up_key_range, split_key_ranges

    texts = _batch(30)
    parts = []
    for i in range(0, 30, 7):
        c = RepetitionCounter()
        c.add(texts[i:i + 7])
        keys, counts, _ = c.totals()
        parts.append(split_key_ranges(keys, counts, 5))
    ranges = [add_up_key_range([p[r] for p in parts]) for r in range(5)]
    whole = count_batch(texts)
    assert np.array_equal(np.concatenate([k for k, _ in ranges]), whole.keys)
    assert np.array_equal(np.concatenate([c for _, c in ranges]), whole.counts)


def test_spill_directories_left_by_killed_runs_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    import fcntl
    import socket
    import tempfile

    from promofilter import textio

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(textio, "_CLEANED_DIRS", set())
    host = socket.gethostname()[:40]
    dead = tmp_path / f"promofilter-counts-{host}-999999999-abc"
    live = tmp_path / f"promofilter-counts-{host}-{os.getppid()}-abc"
    locked = tmp_path / f"promofilter-counts-{host}-999999998-abc"  # a run in another PID namespace
    for d in (dead, live, locked):
        d.mkdir()
        (d / "run0.bin").write_bytes(b"x" * 16)
        (d / "lock").write_bytes(b"")
    holder = os.open(locked / "lock", os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        counter = RepetitionCounter(max_keys=5)
        counter.add(_batch(4))
        counter._compact()
        mine = counter._spill_dir.name
        assert os.path.isdir(mine)
        counter.freeze()
    finally:
        os.close(holder)
    assert not dead.exists() and live.exists() and locked.exists() and not os.path.exists(mine)
