"""Signals of segments: the segment table, masked words and hand-made shape features.

The table has one row per segment with its text and its place in the document (position from
the start and the end, line breaks around it, whether it is glued after a sentence on the same
line). The functions here turn it into numbers: masked words for hashing, and hand-made *shape*
and *voice* features that travel across sites (URLs, handles, emoji, call-to-action verbs,
second person, reporting verbs, stopword density, terminal punctuation, capitalisation).

Nothing here imports scikit-learn: stripping needs these, and a process that only strips text
should not pay for importing it (``promofilter.features`` wraps them as estimators for training).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np

from . import native
from .policy import _breaks
from .results import Segment
from .reuse import segments_of

__all__ = ["segment_columns", "as_frame", "build_table", "mask_text", "mask_texts", "shape_features", "SHAPE_FEATURE_NAMES"]

_TLDS = "com|org|net|io|co|uk|de|fr|info|news|xyz|app|ai|me|tv|us|ca|au|in|biz"
URL = re.compile(rf"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:{_TLDS})\b(?:/\S*)?", re.I)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
HANDLE = re.compile(r"(?<![\w@])@\w{2,}")
HASHTAG = re.compile(r"(?<![\w#&])#[A-Za-z]\w+")
# the compiled core finds these patterns' matches itself (link_count, link_sub), by their index here
LINK_PATTERNS = (URL, EMAIL, HANDLE, HASHTAG)
_URL, _EMAIL, _HANDLE, _HASHTAG = range(4)
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]")
DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
TITLE_WORD = re.compile(r"(?<![\w'’])[^\W\d_a-z][^\W\d_]*")
LABEL = re.compile(r"^[\W_]*[A-Za-z][\w'’&/ -]{0,30}?\s?[:|»›>–—-]\s")
BULLET = re.compile(r"^\s*(?:[-•*▪►▶→»✓✔]|\d{1,2}[.)])\s")
SEPARATORS = re.compile(r"[|•·»›→←▶►]")
COUNTRY_US = re.compile(r"\bU\.S\.(?=\W|$)|(?<![A-Z][A-Z] )\bUS\b")
# A run of three or more Title Case words (a headline, a product or company name) stands for one
# token: otherwise a long title quoted in "The post <title> appeared first on <site>" dilutes the
# template's own words, because hashed words are l2-normalised per segment. A run must follow a
# word and a space, so the capital that opens a segment (most often a sentence) never starts one.
TITLE_RUN = re.compile(r"(?<=\S )[A-Z][a-z][\w'’.,-]*(?:\s+(?:(?:of|for|the|a|an|and|in|on|to|as|at|by|is|with|vs)\s+)?"
                       r"(?:[A-Z][a-z][\w'’.,-]*|[$\d][\w$.,%-]*)){2,}")
# every URL match contains "://", "www." or a dot and a top-level domain ending a word: a cheap
# test first (most segments have none, while a dot before a word character is in one in eight)
_URL_HINT = re.compile(rf"://|www\.|\.(?:{_TLDS})\b", re.I)


def _maybe_url(text: str) -> bool:
    return _URL_HINT.search(text) is not None

CTA_VERBS = frozenset(
    """subscribe follow join download sign register click tap visit read listen watch share like
    get grab claim buy shop order try use book learn discover check explore start stay connect
    contact email support donate install enable turn find see don't dont never unlock trade""".split()
)
SECOND_PERSON = frozenset("you your you're youre yours yourself you'll you've".split())
FIRST_PLURAL = frozenset("we our us we're ours we've we'll".split())
REPORTING = frozenset(
    """said says told according added noted reported explained stated announced asked wrote
    argued estimated expects expected warned believes recalled""".split()
)
STOPWORDS = frozenset(
    """the a an of to in and or but is are was were be been being that this these those it its for
    on at by with from as into than then there their they he she his her him which who whom what
    when where while would could should will can may might has have had not no if so also after
    before about over under between more most such only other some any each all both""".split()
)

SHAPE_FEATURE_NAMES = (
    "log_chars", "log_words", "end_period", "end_exclaim", "end_question", "end_colon",
    "end_none", "end_close", "upper_ratio", "title_ratio", "digit_ratio", "symbol_ratio",
    "urls", "emails", "handles", "hashtags", "emoji", "separators", "bullet", "label",
    "starts_paren", "starts_upper", "cta_first", "cta_any", "second_person", "first_plural",
    "reporting", "quotes", "stopword_ratio", "copyright",
    "rel_pos", "rel_from_end", "segs_from_end", "segs_from_start", "is_last", "is_first",
    "line_start", "line_end", "whole_line", "breaks_before", "breaks_after", "segs_in_line",
    "chars_after_ratio", "log_chars_after", "log_doc_segs", "prev_log_chars", "next_log_chars",
    "prev_end_punct", "next_whole_line",
)


# the last features of SHAPE_FEATURE_NAMES (from "rel_pos" on) come from a segment's place in
# its document, not from its text
N_CONTEXT_FEATURES = len(SHAPE_FEATURE_NAMES) - SHAPE_FEATURE_NAMES.index("rel_pos")


_COLUMNS = ("doc", "idx", "n", "text", "line_start", "line_end", "breaks_before", "breaks_after", "segs_in_line",
            "chars_after", "doc_chars")
_BOOL_COLUMNS = ("line_start", "line_end")


def _with_content(segments: list[Segment]) -> list[Segment]:
    """The segments that hold some text: all of them, but for a blank text's only segment (every
    other segment holds a piece of text, so a list comprehension testing each one is not needed)."""
    return [] if len(segments) == 1 and segments[0].content_end == segments[0].content_start else segments


def segment_columns(texts: Iterable[str]) -> tuple[dict, list[list[Segment]]]:
    """Segment every text: (the segment table as a dict of columns, segments per text). The
    columns are NumPy arrays, ``text`` a list; ``as_frame`` makes a DataFrame of them."""
    compiled = native.core()
    if compiled is not None:
        texts = list(texts)
        all_segments = [_with_content(segments_of(text)) for text in texts]
        total = sum(map(len, all_segments))
        columns = {k: None if k == "text" else np.zeros(total, dtype=bool if k in _BOOL_COLUMNS else np.int64)
                   for k in _COLUMNS}
        columns["text"] = compiled.segment_rows(texts, all_segments, columns)
        return columns, all_segments
    rows: dict[str, list] = {k: [] for k in _COLUMNS}
    all_segments = []
    for d, text in enumerate(texts):
        segs = [s for s in segments_of(text) if s.content_end > s.content_start]
        all_segments.append(segs)
        n = len(segs)
        # number of segments on the line each segment sits on
        line_sizes, count = [], 0
        for s in segs:
            count += 1
            if s.line_end:
                line_sizes.extend([count] * count)
                count = 0
        line_sizes.extend([count] * count)
        prev_end = 0
        for i, s in enumerate(segs):
            rows["doc"].append(d)
            rows["idx"].append(i)
            rows["n"].append(n)
            rows["text"].append(text[s.content_start : s.content_end])
            rows["line_start"].append(bool(s.line_start))
            rows["line_end"].append(bool(s.line_end))
            rows["breaks_before"].append(_breaks(text, prev_end, s.content_start) if i else 2)
            nxt = segs[i + 1].content_start if i + 1 < n else len(text)
            rows["breaks_after"].append(_breaks(text, s.content_end, nxt) if i + 1 < n else 2)
            rows["segs_in_line"].append(line_sizes[i])
            rows["chars_after"].append(len(text) - s.content_end)
            rows["doc_chars"].append(len(text))
            prev_end = s.content_end
    columns = {k: (v if k == "text" else np.asarray(v, dtype=bool if k in _BOOL_COLUMNS else np.int64))
               for k, v in rows.items()}
    return columns, all_segments


def as_frame(columns: dict):
    """A segment table's columns as a DataFrame (what the scikit-learn estimators take)."""
    import pandas as pd

    table = pd.DataFrame({k: v for k, v in columns.items() if k != "text"})
    # object dtype: pandas' Arrow-backed strings cannot hold the lone surrogates that carry
    # undecodable input bytes (surrogateescape)
    table["text"] = pd.Series(columns["text"], dtype=object, index=table.index)
    return table


def build_table(texts: Iterable[str]):
    """Segment every text and return (segment table as a DataFrame, segments per text)."""
    columns, segments = segment_columns(texts)
    return as_frame(columns), segments


def country_texts(texts: list[str]) -> list[str]:
    """``_country_us`` of each text (by the compiled core when it is built): what the shape
    features and the masked words both start from."""
    compiled = native.core()
    return compiled.country_us(texts) if compiled is not None else [_country_us(t) for t in texts]


def _country_us(text: str) -> str:
    """"US" the country as "USA": lower-cased it would be "us" of "follow us", a promo word (and a
    first-person-plural one). Not after an all-capitals word: "FOLLOW US", "CONTACT US"."""
    return COUNTRY_US.sub("USA", text) if "U" in text else text


def _mask_links(text: str, titled: bool = False) -> str:
    """mask_text's first steps: title runs, e-mails, URLs, handles and hashtags as placeholders
    (``titled``: the title runs are placeholders already)."""
    text = text if titled else TITLE_RUN.sub(" xtitle ", _country_us(text))
    # each pattern needs a character most segments lack: test for it before looking for it
    compiled = native.core()
    if compiled is not None:  # (its matchers find the regexes' matches in a fifth of their time)
        t = compiled.link_sub(text, _EMAIL, " xemail ") if "@" in text else text
        t = compiled.link_sub(t, _URL, " xurl ")
        t = compiled.link_sub(t, _HANDLE, " xhandle ") if "@" in t else t
        return compiled.link_sub(t, _HASHTAG, " xhashtag ") if "#" in t else t
    t = EMAIL.sub(" xemail ", text) if "@" in text else text
    t = URL.sub(" xurl ", t) if _maybe_url(t) else t
    t = HANDLE.sub(" xhandle ", t) if "@" in t else t
    return HASHTAG.sub(" xhashtag ", t) if "#" in t else t


def mask_texts(texts: Iterable[str], countried: list[str] | None = None) -> list[str]:
    """``mask_text`` of each text, by the compiled core when it is built (the link placeholders
    only in the texts it says have any). ``countried``: the texts through ``country_texts``
    already."""
    return mask_tails(mask_links(texts, countried))


def mask_links(texts: Iterable[str], countried: list[str] | None = None) -> list[str]:
    """``mask_text``'s first steps (``_mask_links``) of each text: ``mask_tail`` of each makes
    ``mask_texts``. ``countried``: as ``mask_texts``'."""
    compiled = native.core()
    if compiled is None:
        return [_mask_links(t) for t in texts]
    titled = compiled.title_runs(countried if countried is not None else country_texts(list(texts)))
    hints = np.empty(len(titled), dtype=np.uint8)
    compiled.link_hints(titled, hints)
    for i in np.flatnonzero(hints).tolist():
        titled[i] = _mask_links(titled[i], titled=True)
    return titled


def mask_text(text: str) -> str:
    """Lower-case words with URLs, e-mails, handles, numbers and emoji replaced by placeholders,
    plus first/last-word markers (labels such as "Related:" live at the start)."""
    return mask_tail(_mask_links(text))


def mask_tails(texts: Iterable[str]) -> list[str]:
    """``mask_tail`` of each text, by the compiled core when it is built."""
    compiled = native.core()
    return [mask_tail(t) for t in texts] if compiled is None else compiled.mask_tails(list(texts))


def mask_tail(text: str) -> str:
    """``mask_text``'s last steps, after the link placeholders: emoji and numbers, lower case, and
    the first/last-word markers."""
    t = text if text.isascii() else EMOJI.sub(" xemoji ", text)
    t = DIGITS.sub(" xnum ", t).lower()
    words = WORD.findall(t)
    if not words:
        return "xempty"
    return f"xfirst{words[0]} {t} xlast{words[-1]}"


# ASCII text is counted by mapping every byte to its class (capital, small letter, digit, space,
# other) in one C call and counting each class: not one Python call per character
_ASCII_CLASS = bytes(ord("U") if chr(c).isupper() else ord("l") if chr(c).isalpha() else
                     ord("d") if chr(c).isdigit() else ord("s") if chr(c).isspace() else ord("o")
                     for c in range(128)) + bytes(128)  # (a translation table has 256 entries)


def _char_classes(text: str, ascii_only: bool) -> tuple[int, int, int, int, int]:
    """Letters, letters or digits, spaces, capitals and digits in ``text`` (in ASCII, the letters
    or digits are exactly the letters and the digits)."""
    if ascii_only:
        classes = text.encode("ascii").translate(_ASCII_CLASS)
        upper, digits = classes.count(b"U"), classes.count(b"d")
        letters = upper + classes.count(b"l")
        return letters, letters + digits, classes.count(b"s"), upper, digits
    return (sum(map(str.isalpha, text)), sum(map(str.isalnum, text)), sum(map(str.isspace, text)),
            sum(map(str.isupper, text)), sum(map(str.isdigit, text)))


def _text_shape(text: str) -> list[float]:
    text = _country_us(text)
    n_chars = len(text)
    lowered = text.lower()
    lower = WORD.findall(lowered)
    n_words = max(len(lower), 1)
    at, ascii_only = "@" in text, text.isascii()
    letters, alnum, spaces, upper, digits = _char_classes(text, ascii_only)
    letters = letters or 1
    last = text.rstrip("\"'”’»)]*")
    end = text[-1]
    first = lower[0] if lower else ""
    # set lookups mapped in C, not a Python loop over the words
    cta = sum(map(CTA_VERBS.__contains__, lower))
    stop = sum(map(STOPWORDS.__contains__, lower))
    second = sum(map(SECOND_PERSON.__contains__, lower))
    plural = sum(map(FIRST_PLURAL.__contains__, lower))
    reporting = not REPORTING.isdisjoint(lower)
    return [
        math.log1p(n_chars),
        math.log1p(len(lower)),
        float(last.endswith(".")),
        float(last.endswith("!")),
        float(last.endswith("?")),
        float(last.endswith(":")),
        float(end.isalnum()),
        float(end in "\"'”’»)]"),
        upper / letters,
        len(TITLE_WORD.findall(text)) / n_words,
        digits / n_chars,
        (n_chars - alnum - spaces) / n_chars,
        len(URL.findall(text)) if _maybe_url(text) else 0,
        len(EMAIL.findall(text)) if at else 0,
        len(HANDLE.findall(text)) if at else 0,
        len(HASHTAG.findall(text)) if "#" in text else 0,
        0 if ascii_only else len(EMOJI.findall(text)),
        text.count("|") if ascii_only else len(SEPARATORS.findall(text)),  # "|" is its only ASCII one
        float(bool(BULLET.match(text))),
        float(bool(LABEL.match(text))),
        float(text[0] in "([{"),
        float(text[0].isupper()),
        float(first in CTA_VERBS),
        cta / n_words,
        second / n_words,
        plural / n_words,
        float(reporting),
        float(any(c in text for c in "\"“”")),
        stop / n_words,
        float("©" in text or "copyright" in lowered or "rights reserved" in lowered),
    ]


_TEXT_COLUMNS = {name: i for i, name in enumerate(SHAPE_FEATURE_NAMES[:-N_CONTEXT_FEATURES])}


def _text_shapes(texts: Sequence[str], countried: list[str] | None = None) -> np.ndarray | list[list[float]]:
    """``_text_shape`` of each text: by the compiled core when it is built (the same numbers).
    ``countried``: the texts through ``country_texts`` already."""
    compiled = native.core()
    if compiled is None:
        return [_text_shape(t) for t in texts]
    texts = countried if countried is not None else country_texts(list(texts))
    out = np.empty((len(texts), len(_TEXT_COLUMNS)))
    hints = np.empty(len(texts), dtype=np.uint8)
    compiled.text_shape(texts, CTA_VERBS, STOPWORDS, SECOND_PERSON, FIRST_PLURAL, REPORTING, out, hints)
    # URLs and e-mails counted only where the C code saw a hint of them (the hint is the test
    # _text_shape makes first)
    for i in np.flatnonzero(hints & 1).tolist():
        out[i, _TEXT_COLUMNS["urls"]] = compiled.link_count(texts[i], _URL)
    for i in np.flatnonzero(hints & 2).tolist():
        out[i, _TEXT_COLUMNS["emails"]] = compiled.link_count(texts[i], _EMAIL)
    return out


def shape_features(X, max_distance: int = 10, countried: list[str] | None = None) -> np.ndarray:
    """Shape, voice and position features (``SHAPE_FEATURE_NAMES``) of each row of a segment
    table: a DataFrame from ``build_table`` or any mapping of its columns. ``countried``: its
    texts through ``country_texts`` already."""
    texts: Sequence[str] = list(X["text"])
    # the text columns, then the context ones, written straight into their places
    out = np.empty((len(texts), len(SHAPE_FEATURE_NAMES)))
    shape = out[:, :len(SHAPE_FEATURE_NAMES) - N_CONTEXT_FEATURES]
    # filled a block of rows at a time: a list of Python floats per row costs ~1 KB
    for a in range(0, len(texts), 10_000):
        block = texts[a:a + 10_000]
        shape[a:a + len(block)] = _text_shapes(block, None if countried is None else countried[a:a + 10_000])
    idx = np.asarray(X["idx"], dtype=np.float64)
    n = np.asarray(X["n"], dtype=np.float64)
    from_end = n - 1 - idx
    line_start = np.asarray(X["line_start"], dtype=np.float64)
    line_end = np.asarray(X["line_end"], dtype=np.float64)
    chars_after = np.asarray(X["chars_after"], dtype=np.float64)
    doc_chars = np.maximum(np.asarray(X["doc_chars"], dtype=np.float64), 1)
    log_chars = shape[:, 0]
    # neighbours within the same document (row order is document order)
    doc = np.asarray(X["doc"])
    same_prev = np.zeros(len(doc), dtype=bool)  # sized by hand: np.r_ gives one row for none
    same_prev[1:] = doc[1:] == doc[:-1]
    same_next = np.zeros(len(doc), dtype=bool)
    same_next[:-1] = same_prev[1:]
    prev_chars = np.where(same_prev, np.r_[0.0, log_chars[:-1]], 0.0)
    next_chars = np.where(same_next, np.r_[log_chars[1:], 0.0], 0.0)
    ends_punct = shape[:, 2] + shape[:, 3] + shape[:, 4]
    prev_punct = np.where(same_prev, np.r_[0.0, ends_punct[:-1]], 1.0)
    whole = line_start * line_end
    next_whole = np.where(same_next, np.r_[whole[1:], 0.0], 1.0)
    m = max_distance
    context = [
        idx / np.maximum(n, 1),
        from_end / np.maximum(n, 1),
        np.minimum(from_end, m),
        np.minimum(idx, m),
        (from_end == 0).astype(float),
        (idx == 0).astype(float),
        line_start,
        line_end,
        whole,
        np.minimum(np.asarray(X["breaks_before"], dtype=np.float64), 3),
        np.minimum(np.asarray(X["breaks_after"], dtype=np.float64), 3),
        np.log1p(np.asarray(X["segs_in_line"], dtype=np.float64)),
        chars_after / doc_chars,
        np.log1p(chars_after),
        np.log1p(n),
        prev_chars,
        next_chars,
        prev_punct,
        next_whole,
    ]
    for j, column in enumerate(context, start=shape.shape[1]):
        out[:, j] = column
    return out
