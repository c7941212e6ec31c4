"""User rules: block rules remove a segment the model misses, allow rules protect real content.

A rule matches one segment's text (a sentence or a line, without its surrounding whitespace):

- ``literal``: the segment contains the string (case-sensitive);
- ``regex``: ``re.search`` finds the pattern in the segment;
- ``template``: the whole segment has the template's shape, ``{slot}`` standing for any text and
  a space for any run of whitespace: ``The post {title} appeared first on {site}.``

Rules are checked when they are made, so a bad one fails at once with its name: an invalid
regular expression, a pattern that matches most ordinary sentences (``.*``), or one that
backtracks catastrophically (nested quantifiers such as ``(a+)+``, or slow on probe inputs).

>>> Rule("pr", "block", "The post {title} appeared first on {site}.", "template").matches(
...     "The post Rates hold appeared first on Daily Ledger.")
True
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field

from .results import Kind

__all__ = ["Rule", "RuleError", "ACTIONS", "SYNTAXES"]

ACTIONS = ("block", "allow")
SYNTAXES = ("literal", "regex", "template")
PROBE_SECONDS = 2.0

# ordinary editorial sentences: a rule matching most of them would remove the article itself
_ORDINARY = (
    "The central bank held interest rates steady on Wednesday, citing slowing inflation.",
    "Shares of the company rose 4% in early trading after the results.",
    "The mayor said the new bus lanes would open in the spring.",
    "Researchers found that the drug reduced symptoms in two-thirds of patients.",
    "The team won its third straight game, beating the visitors 3-1.",
    "Officials did not say how many people had been evacuated.",
    "The bill passed the Senate by a vote of 52 to 48.",
    "She said the decision was made after months of negotiations.",
    "Prices for used cars fell for the fourth month in a row.",
    "The storm is expected to make landfall late on Thursday.",
    "According to the report, exports grew faster than expected.",
    "He joined the firm in 2015 and became chief executive three years later.",
    "The museum will reopen to visitors next month after a two-year renovation.",
    "Analysts expect the merger to be approved by regulators this year.",
    "The court ruled that the contract was void.",
    "Farmers have struggled with drought across the region.",
    "The game was delayed by rain for more than an hour.",
    "Local residents said they had not been consulted about the plan.",
    "The software update fixes a bug that drained batteries.",
    "Turnout was the highest since 1992.",
)
# a quantified group that itself contains a quantifier: (a+)+, (\w+\s?)*, (?:x*y)+ ...
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,)")
_SLOT = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


class RuleError(ValueError):
    """A rule that cannot be used; the message names it and says why."""


def _template_regex(template: str) -> str:
    parts = []
    pos = 0
    for m in _SLOT.finditer(template):
        parts.append(_literal_regex(template[pos:m.start()]))
        parts.append(r".+?")
        pos = m.end()
    parts.append(_literal_regex(template[pos:]))
    return r"\A" + "".join(parts) + r"\Z"


def _literal_regex(text: str) -> str:
    return r"\s+".join(re.escape(w) for w in re.split(r"\s+", text)) if text.strip() else re.escape(text)


def _probe(pattern: str) -> bool:
    """True when the regex finishes on adversarial inputs within PROBE_SECONDS (run in a child
    process, the only way to bound Python's backtracking matcher)."""
    code = ("import json,re,sys\np=re.compile(json.load(sys.stdin))\n"
            "for s in ['a'*26+'!', ' '*26+'!', 'ab'*14+'!', '1'*26+'x', 'word '*14+'!', 'A.'*14+'?']:\n"
            "    p.search(s)\n")
    try:
        subprocess.run([sys.executable, "-c", code], input=json.dumps(pattern), text=True,
                       timeout=PROBE_SECONDS, check=True, capture_output=True)
    except subprocess.TimeoutExpired:
        return False
    return True


@dataclass(frozen=True)
class Rule:
    """One block or allow rule. ``kind`` is the kind a block rule gives what it removes."""

    name: str
    action: str
    pattern: str
    syntax: str = "literal"
    kind: Kind = Kind.AD
    sites: tuple = ()
    _regex: re.Pattern | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"rule {self.name!r}"
        if not self.name:
            raise RuleError("a rule needs a name")
        if self.action not in ACTIONS:
            raise RuleError(f"{where}: action must be block or allow, not {self.action!r}")
        if self.syntax not in SYNTAXES:
            raise RuleError(f"{where}: syntax must be one of {', '.join(SYNTAXES)}, not {self.syntax!r}")
        if not self.pattern.strip():
            raise RuleError(f"{where}: the pattern is empty")
        sites = (self.sites,) if isinstance(self.sites, str) else tuple(self.sites)
        if not all(isinstance(x, str) and x.strip() for x in sites):
            raise RuleError(f"{where}: sites must be a list of site names")
        object.__setattr__(self, "sites", tuple(x.strip().lower() for x in sites))
        try:
            object.__setattr__(self, "kind", Kind(self.kind))
        except ValueError:
            raise RuleError(f"{where}: unknown kind {self.kind!r}") from None
        if self.kind is Kind.CONTENT:
            raise RuleError(f"{where}: a block rule removes promos; its kind cannot be content")
        if self.syntax == "literal":
            regex = None
        else:
            source = self.pattern if self.syntax == "regex" else _template_regex(self.pattern)
            try:
                regex = re.compile(source)
            except re.error as e:
                raise RuleError(f"{where}: invalid regular expression: {e}") from None
            if self.syntax == "regex":
                if _NESTED_QUANTIFIER.search(self.pattern):
                    raise RuleError(f"{where}: nested quantifiers (like (a+)+) can backtrack for ever; "
                                    "rewrite the pattern without them")
                if not _probe(self.pattern):
                    raise RuleError(f"{where}: the pattern takes more than {PROBE_SECONDS:g} s on short "
                                    "inputs (catastrophic backtracking)")
        object.__setattr__(self, "_regex", regex)
        hits = sum(self.matches(s) for s in _ORDINARY)
        if hits * 2 > len(_ORDINARY):
            raise RuleError(f"{where}: it matches {hits} of {len(_ORDINARY)} ordinary sentences and would "
                            "remove or protect most of any article; make it more specific")

    def applies_to(self, site: str | None) -> bool:
        """Whether the rule is in force for a document of ``site`` (rules without sites: always)."""
        return not self.sites or (site is not None and site.strip().lower() in self.sites)

    def matches(self, text: str) -> bool:
        """Whether the rule matches one segment's text."""
        text = text.strip()
        if self._regex is None:
            return self.pattern in text
        return self._regex.search(text) is not None

    @classmethod
    def from_dict(cls, entry: dict) -> "Rule":
        """A rule from a config-file table: ``name``, ``action`` and exactly one of ``literal``,
        ``regex``, ``template``; block rules may give a ``kind`` (default ``ad``); ``sites`` limits
        the rule to documents of those sites (batch files with ``--site-field``, or ``--site``)."""
        name = str(entry.get("name", ""))
        given = [s for s in SYNTAXES if s in entry]
        if len(given) != 1:
            raise RuleError(f"rule {name!r}: give exactly one of literal, regex, template")
        unknown = set(entry) - {"name", "action", "kind", "sites", *SYNTAXES}
        if unknown:
            raise RuleError(f"rule {name!r}: unknown keys {', '.join(sorted(unknown))}")
        return cls(name=name, action=str(entry.get("action", "")), pattern=str(entry[given[0]]),
                   syntax=given[0], kind=entry.get("kind", Kind.AD.value), sites=entry.get("sites", ()))


def verdict(rules, text: str, site: str | None = None) -> Rule | None:
    """The rule that decides a segment: the first matching allow rule (allow wins), else the
    first matching block rule, else None (the model decides). Only rules in force for ``site``."""
    block = None
    for rule in rules:
        if rule.applies_to(site) and rule.matches(text):
            if rule.action == "allow":
                return rule
            if block is None:
                block = rule
    return block
