"""Segmentation: text -> segments (lines, and sentences within lines) that tile the input exactly.

Nothing here normalises or edits text: every segment is a pair of offsets, and joining
``text[s.start:s.end]`` over all segments rebuilds the input character for character.

>>> text = "Prices rose 4.5% in the U.S. on Monday. Featured image from Shutterstock\\n"
>>> [text[s.content_start:s.content_end] for s in segment(text)]
['Prices rose 4.5% in the U.S. on Monday.', 'Featured image from Shutterstock']
"""
from __future__ import annotations

import re

from . import native
from .results import Segment

__all__ = ["segment", "LINE_BREAK"]

# Line breaks: \n, \r\n, lone \r (old Mac exports) and the Unicode line/paragraph separators.
LINE_BREAK = re.compile(r"\r\n|[\n\r\u2028\u2029]")
_LINE_BODY = re.compile(r"[^\n\r\u2028\u2029]+")

# A sentence ends with terminal punctuation, optional closing quotes/brackets, then whitespace and
# a character that can start a sentence (anything but a lowercase letter or continuing punctuation).
_LATIN_END = re.compile(r"""[.!?…]+["'”’»)\]]*(?=\s+[^\s\-a-z,;:)\]}%])""")
# CJK full-width terminators need no space after them.
_CJK_END = re.compile(r"[。！？!?]+[」』”’)）]*(?=\S)")
# Paragraphs flattened without a space: "... on Tuesday.Featured image from ..."
_GLUED_END = re.compile(r"(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])")

# Tokens that end with a period but do not end a sentence.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt ft inc corp co ltd llc plc vs etc e.g i.e al approx est
    no nos vol fig figs dept univ gov gen sen rep rev hon lt col capt sgt cmdr adm pres
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    ala ariz ark calif colo conn del fla ga ill ind kan ky la md mass mich minn miss mo mont neb
    nev okla ore pa tenn tex va vt wash wis wyo u.s u.k u.n e.u a.m p.m ph.d m.d b.a m.a
    op cf ca approx min max avg pp ed eds repr""".split()
)
_TOKEN_BEFORE = re.compile(r"([\w.]+)\.*$")


def _is_abbreviation(line: str, end: int) -> bool:
    """True when the period just before ``end`` closes an abbreviation or an initial."""
    if line[end - 1] != ".":
        return False
    match = _TOKEN_BEFORE.search(line, max(0, end - 24), end)
    if not match:
        return False
    token = match.group(1).rstrip(".").lower()
    if token in _ABBREVIATIONS:
        return True
    # Single initials ("J. Smith") and dotted acronyms ("U.S.", "N.Y.")
    return len(token) == 1 and token.isalpha() or bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", token))


def _sentence_ends(line: str) -> list[int]:
    """Offsets (within ``line``) just after each sentence that is followed by more text."""
    ends = {m.end() for m in _LATIN_END.finditer(line) if not _is_abbreviation(line, m.end())}
    ends.update(m.end() for m in _CJK_END.finditer(line))
    ends.update(m.start() for m in _GLUED_END.finditer(line) if not _is_abbreviation(line, m.start()))
    return sorted(e for e in ends if 0 < e < len(line))


def _pieces(text: str):
    """Yield (content_start, content_end, line_start, line_end) for every non-blank piece."""
    for line in _LINE_BODY.finditer(text):
        body = line.group()
        stripped = body.strip()
        if not stripped:
            continue
        base = line.start() + (len(body) - len(body.lstrip()))
        cuts = [0, *_sentence_ends(stripped), len(stripped)]
        last = len(cuts) - 2
        for i in range(len(cuts) - 1):
            piece = stripped[cuts[i] : cuts[i + 1]]
            lead = len(piece) - len(piece.lstrip())
            core = piece.strip()
            if not core:
                continue
            start = base + cuts[i] + lead
            yield start, start + len(core), i == 0, i == last


def segment(text: str) -> list[Segment]:
    """Split ``text`` into segments that tile it exactly.

    Segments are lines and, within a line, sentences, so a trailer glued after the last sentence
    of a paragraph is a segment of its own. Each segment owns the whitespace that follows its
    content; the first one also owns any leading whitespace. Empty text gives no segments;
    whitespace-only text gives one segment with empty content.

    >>> [(s.start, s.end) for s in segment("One.\\r\\n\\r\\nTwo")]
    [(0, 8), (8, 11)]
    """
    if not text:
        return []
    compiled = native.core()
    if compiled is not None:
        return compiled.segments(text, _is_abbreviation, _ABBREVIATIONS, Segment)
    pieces = list(_pieces(text))
    if not pieces:
        return [Segment(0, len(text), 0, 0, True, True)]
    segments = []
    for i, (cs, ce, ls, le) in enumerate(pieces):
        start = 0 if i == 0 else cs
        end = pieces[i + 1][0] if i + 1 < len(pieces) else len(text)
        segments.append(Segment(start, end, cs, ce, ls, le))
    return segments
