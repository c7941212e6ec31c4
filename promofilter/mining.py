"""Trailer mining: segments that repeat across many documents, folded into templates.

Promo trailers are templates: a site glues the same line, or the same line with another title,
URL or number, onto many articles; article sentences rarely repeat. ``mine`` folds every segment
into a template (URLs, e-mails, handles, numbers, quotes and capitalised names masked), counts the
documents each template occurs in, and ranks the frequent ones for labelling: most documents
first, and among equals the ones the model is least sure about (score nearest its threshold).
Names are runs of capitalised words, so Title Case headlines fold and sentence-case ones do not.

>>> template_of("The post Rates Hold Steady appeared first on Daily Ledger.")
'The post {name} appeared first on {name}.'
>>> template_of("Follow @ledger for 24/7 updates: https://ledger.example/x")
'Follow {handle} for {number} updates: {url}'
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from . import native

__all__ = ["MinedTemplate", "template_of", "mine"]

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|co|uk|news|info)(?:/\S*)?\b", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_HANDLE = re.compile(r"(?<!\w)[@#]\w+")
_NUMBER = re.compile(r"[$€£¥]?\d+(?:[,.:/]\d+)*%?")
_QUOTE = re.compile(r"“[^”]{1,200}”|\"[^\"]{1,200}\"|‘[^’]{1,200}’")
# a capitalised word (or a run of them) that is not the first word of the segment
_NAME_RUN = re.compile(r"(?<=[\w,;:)\]’'\"»|–—-] )[A-Z][\w'’&-]*(?:\s+(?:of |the |and |& |de |for |in |on )?[A-Z][\w'’&-]*)*")
_SPACE = re.compile(r"\s+")
_QUOTE_HINT = re.compile("[“\"‘]")
_DIGIT = re.compile(r"\d")
# what every _URL match contains: a cheap test that skips the costly pattern on most segments
_URL_HINT = re.compile(r"https?://|www\.|\.(?:com|org|net|io|co|uk|news|info)", re.I)
_NAMES = re.compile(r"(\{name\})(?:\s*\{name\})+")


def template_of(text: str) -> str:
    """The segment with its volatile parts masked, so instances of one trailer fold together."""
    compiled = native.core()
    found = compiled.template_of(text) if compiled is not None else None
    if found is not None:  # (None: an e-mail, URL, handle or quote may be in it, masked below)
        return found
    t = _SPACE.sub(" ", text.strip())
    # each pattern needs a character many segments lack: test for it before running the regex
    if "@" in t:
        t = _EMAIL.sub("{email}", t)
    if "." in t and _URL_HINT.search(t):
        t = _URL.sub("{url}", t)
    if "@" in t or "#" in t:
        t = _HANDLE.sub("{handle}", t)
    if compiled is not None:
        # the links masked, the rest is what the core does (the text stays collapsed and stripped)
        found = compiled.template_of(t)
        if found is not None:
            return found
    if _QUOTE_HINT.search(t):
        t = _QUOTE.sub("{quote}", t)
    if _DIGIT.search(t):
        t = _NUMBER.sub("{number}", t)
    t = _NAME_RUN.sub("{name}", t)
    return _NAMES.sub(r"\1", t) if "{name}" in t else t


@dataclass(frozen=True)
class MinedTemplate:
    """A template seen in ``documents`` documents (``occurrences`` times), with one real example,
    and, when a model was given, the model's mean score and most common kind for it."""

    template: str
    documents: int
    occurrences: int
    example: str
    mean_score: float | None = None
    kind: str | None = None

    def to_row(self) -> dict:
        return {"template": self.template, "documents": self.documents, "occurrences": self.occurrences,
                "mean_score": "" if self.mean_score is None else round(self.mean_score, 4),
                "model_kind": self.kind or "", "text": self.example, "label": "", "kind": ""}


def mine(texts: Iterable[str], model=None, min_docs: int = 3, min_chars: int = 8) -> list[MinedTemplate]:
    """Templates of segments found in at least ``min_docs`` of ``texts``, ranked for labelling."""
    from collections import Counter, defaultdict

    from .segment import segment

    docs: Counter = Counter()
    occurrences: Counter = Counter()
    examples: dict[str, str] = {}
    scores: dict[str, list[float]] = defaultdict(list)
    kinds: dict[str, Counter] = defaultdict(Counter)
    stream = model.detect_many(texts) if model is not None else ((text, None) for text in texts)
    for item in stream:
        if model is not None:
            pieces = [(s.text.strip(), s.score, s.kind.value) for s in item]
        else:
            text = item[0]
            pieces = [(text[s.content_start:s.content_end], None, None) for s in segment(text)]
        seen = set()
        for piece, score, kind in pieces:
            if len(piece) < min_chars:
                continue
            key = template_of(piece)
            occurrences[key] += 1
            examples.setdefault(key, piece)
            if score is not None:
                scores[key].append(score)
                kinds[key][kind] += 1
            if key not in seen:
                seen.add(key)
                docs[key] += 1
    threshold = getattr(model, "threshold", 0.5)
    mined = [
        MinedTemplate(key, n, occurrences[key], examples[key],
                      sum(scores[key]) / len(scores[key]) if scores[key] else None,
                      kinds[key].most_common(1)[0][0] if kinds[key] else None)
        for key, n in docs.items() if n >= min_docs
    ]
    mined.sort(key=lambda m: (-m.documents, abs((m.mean_score if m.mean_score is not None else threshold) - threshold),
                              m.template))
    return mined
