"""Golden cases (tests/cases/*.json, format in tests/cases/README.md), run with the shipped model:
they are the behaviour users get from ``promofilter strip``.

A case with ``"expect": "fail"`` is a known miss: it runs as a strict xfail, so fixing it makes
the suite fail until the case is flipped to ``"pass"``.
"""
import json
from pathlib import Path

import pytest

from promofilter import remove_spans

CASES_DIR = Path(__file__).parent / "cases"


def _cases():
    for path in sorted(CASES_DIR.glob("*.json")):
        for i, case in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            marks = [pytest.mark.xfail(strict=True, reason=case.get("comment", ""))] if case["expect"] == "fail" else []
            yield pytest.param(case, id=f"{path.stem}-{i}-{case['label']}", marks=marks)


def test_there_are_at_least_forty_golden_cases():
    assert len(list(_cases())) >= 40


@pytest.mark.parametrize("case", list(_cases()))
def test_golden_case(shipped_model, case):
    result = shipped_model.strip_and_explain(case["original"])
    assert result.text == remove_spans(case["original"], result.removed)
    assert result.text == case["stripped"]
