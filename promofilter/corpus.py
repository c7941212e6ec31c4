"""The authored training corpus, and a seeded generator that composes labelled documents from it.

The corpus (``training/corpus/``, shipped in the wheel as ``promofilter/_corpus``) holds
articles (one block per line), promo templates grouped in *families* per kind, hard negatives
(editorial sentences about ads, subscriptions, apps...) and slot fillers. ``generate`` lays
articles out the ways scraped text comes (one paragraph per line, blank-line paragraphs,
hard-wrapped, flattened onto one line, CRLF) and inserts promos at the end, glued after the
last sentence, at the start and mid-article, recording exact promo spans in the same JSONL shape
as the team's gold files: ``{"id", "site", "text", "promo_spans": [[start, end, kind], ...]}``.
"""
from __future__ import annotations

import hashlib
import random
import re
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path

from .results import Kind

__all__ = ["Article", "Family", "Corpus", "load_corpus", "split_corpus", "split_folds", "generate",
           "generate_batches", "default_corpus_dir"]

SLOT = re.compile(r"\{(\w+)\}")
BR = "<br>"


@dataclass(frozen=True)
class Article:
    domain: str
    slug: str
    blocks: tuple[str, ...]  # blocks[0] is the headline

    @property
    def title(self) -> str:
        return self.blocks[0]


@dataclass(frozen=True)
class Family:
    name: str
    kind: Kind
    templates: tuple[str, ...]


@dataclass
class Corpus:
    articles: list[Article]
    families: list[Family]
    negatives: list[tuple[str, str]]  # (topic, sentence)
    fillers: dict[str, list[str]] = field(default_factory=dict)

    def sha256(self) -> str:
        h = hashlib.sha256()
        for a in self.articles:
            h.update(f"A\0{a.domain}\0{a.slug}\0{chr(1).join(a.blocks)}\0".encode())
        for f in self.families:
            h.update(f"F\0{f.name}\0{f.kind.value}\0{chr(1).join(f.templates)}\0".encode())
        for topic, s in self.negatives:
            h.update(f"N\0{topic}\0{s}\0".encode())
        for k in sorted(self.fillers):
            h.update(f"S\0{k}\0{chr(1).join(self.fillers[k])}\0".encode())
        return h.hexdigest()


def default_corpus_dir() -> Path:
    packaged = Path(__file__).parent / "_corpus"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "training" / "corpus"


def _lines(path: Path) -> list[str]:
    return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()]


def _load_articles(directory: Path) -> list[Article]:
    articles = []
    for path in sorted(directory.glob("*.txt")):
        slug, blocks = None, []
        for line in _lines(path) + ["=== <end>"]:
            if line.startswith("=== "):
                if slug and blocks:
                    articles.append(Article(path.stem, slug, tuple(blocks)))
                slug, blocks = line[4:].strip(), []
            elif line.strip():
                blocks.append(line.strip())
    return articles


def _load_families(directory: Path) -> list[Family]:
    families = []
    for path in sorted(directory.glob("*.txt")):
        kind = Kind(path.stem.split("_")[0])  # <kind>.txt, or <kind>_<topic>.txt
        name, templates = None, []
        for line in _lines(path) + ["## <end>"]:
            if line.startswith("## "):
                if name and templates:
                    families.append(Family(name, kind, tuple(templates)))
                name, templates = line[3:].strip(), []
            elif line.strip() and not line.startswith("# "):
                templates.append(line.strip())
    return families


def _load_fillers(path: Path) -> dict[str, list[str]]:
    fillers: dict[str, list[str]] = {}
    current = None
    for line in _lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            fillers[current] = []
        elif current:
            fillers[current].append(line.strip())
    return fillers


def load_corpus(directory: str | Path | None = None) -> Corpus:
    root = Path(directory) if directory else default_corpus_dir()
    if not (root / "articles").is_dir():
        raise FileNotFoundError(f"no authored corpus at {root} (expected articles/, promos/, hard_negatives/)")
    negatives = []
    for path in sorted((root / "hard_negatives").glob("*.txt")):
        negatives += [(path.stem, s.strip()) for s in _lines(path) if s.strip() and not s.startswith("# ")]
    for path in sorted((root / "furniture").glob("*.txt")):
        negatives += [(FURNITURE + path.stem, s.strip()) for s in _lines(path) if s.strip() and not s.startswith("# ")]
    return Corpus(
        articles=_load_articles(root / "articles"),
        families=_load_families(root / "promos"),
        negatives=negatives,
        fillers=_load_fillers(root / "fillers.txt"),
    )


def _bucket(key: str) -> float:
    """A stable number in [0, 1) for a name: splits do not depend on file order or seeds."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32


def split_corpus(corpus: Corpus, test_share: float = 0.2, salt: str = "v1") -> tuple[Corpus, Corpus]:
    """Split into (train, test) so that no article, promo family or hard negative is on both sides."""
    def side(key: str) -> bool:
        return _bucket(f"{salt}:{key}") < test_share

    train = replace(corpus, articles=[a for a in corpus.articles if not side("a:" + a.slug)],
                    families=[f for f in corpus.families if not side("f:" + f.name)],
                    negatives=[n for n in corpus.negatives if not side("n:" + n[1])])
    test = replace(corpus, articles=[a for a in corpus.articles if side("a:" + a.slug)],
                   families=[f for f in corpus.families if side("f:" + f.name)],
                   negatives=[n for n in corpus.negatives if side("n:" + n[1])])
    return train, test


def split_folds(corpus: Corpus, k: int, salt: str = "folds") -> list[Corpus]:
    """Partition into ``k`` corpora with disjoint articles, promo families and hard negatives.

    Documents generated from different folds share no article and no promo style, so a model
    scored on one fold after training on the others sees what it will see in the wild.
    """
    def fold(key: str) -> int:
        return min(int(_bucket(f"{salt}:{key}") * k), k - 1)

    return [replace(corpus, articles=[a for a in corpus.articles if fold("a:" + a.slug) == i],
                    families=[f for f in corpus.families if fold("f:" + f.name) == i],
                    negatives=[n for n in corpus.negatives if fold("n:" + n[1]) == i])
            for i in range(k)]


# ----------------------------------------------------------------------------- generation

KIND_WEIGHTS = {Kind.CROSSPROMO: 3, Kind.CTA: 2.5, Kind.CREDIT: 2.5, Kind.BOILERPLATE: 2,
                Kind.DISCLAIMER: 1.5, Kind.AD: 2}
# Where in a document each kind tends to appear besides the end.
MID_KINDS = (Kind.CROSSPROMO, Kind.CREDIT, Kind.AD, Kind.CTA)
START_KINDS = (Kind.CREDIT, Kind.AD, Kind.BOILERPLATE, Kind.CTA, Kind.DISCLAIMER)
# hard_negatives topics with this prefix are editorial furniture with their own placement
FURNITURE = "furniture:"
# domains whose articles quote code and commands (furniture/code_lines.txt)
CODE_DOMAINS = ("howto", "tech", "gaming")
# share of documents cut to their first few paragraphs (briefs, feed items, summaries): without
# them nearly every generated document is long, and stage 2 learns to distrust a trailer at the
# end of a short one (own cases of 5-7 segments scored 0.84-0.88 where stage 1 read 0.93-0.97)
SHORT_SHARE = 0.12
# share of documents whose lede opens with a dateline (see furniture/datelines.txt)
DATELINE_SHARE = 0.15
# share of those (ending in a dash) that stand on a line of their own before the lede
DATELINE_OWN_LINE = 0.35
_HAS_DATELINE = re.compile(r"[A-Z][A-Z .'’-]{2,}(,|\s[(—–-])")
EMOJI = ["👉", "📩", "🔔", "🚀", "📲", "🔥", "✅", "⚡", "💰", "📈", "➡️", "👇"]


class _Filler:
    def __init__(self, fillers: dict[str, list[str]], titles: list[str], rng: random.Random):
        self.f = fillers
        self.titles = titles
        self.rng = rng

    def site(self) -> str:
        r = self.rng
        joiner = r.choice(["", "", " ", ""])
        return r.choice(self.f["site_prefix"]) + joiner + r.choice(self.f["site_suffix"])

    def domain(self, site: str | None = None) -> str:
        base = re.sub(r"[^a-z0-9]", "", (site or self.site()).lower())
        return f"{base}.{self.rng.choice(self.f['tld'])}"

    def value(self, slot: str, site: str) -> str:
        r = self.rng
        if slot == "site":
            return site
        if slot == "title":
            return r.choice(self.titles)
        if slot == "url":
            path = "-".join(re.findall(r"[a-z0-9]+", r.choice(self.titles).lower())[:8])
            return f"https://{r.choice(['', 'www.'])}{self.domain(site)}/{r.choice(['', 'news/', 'markets/', '2025/05/'])}{path}"
        if slot == "handle":
            return re.sub(r"[^A-Za-z0-9_]", "", r.choice([site, r.choice(self.f["author"]).split()[0] + r.choice(["_news", "FX", "", "_tweets"]), site + r.choice(["HQ", "_", "News"])]))
        if slot == "email":
            name = r.choice(self.f["author"]).split()
            return f"{r.choice([name[0].lower(), name[0][0].lower() + name[-1].lower(), 'press', 'tips', 'news'])}@{self.domain(site)}"
        if slot == "number":
            return str(r.choice([r.randint(2, 99), r.randint(100, 9999), r.randint(10000, 999999)]))
        if slot == "percent":
            return f"{r.randint(5, 80)}%"
        if slot == "price":
            return r.choice(["$", "€", "£", "$"]) + str(r.choice([9, 19, 29, 49, 99, 199, 4.99, 12.5]))
        if slot == "CITY":
            return r.choice(self.f["city"]).upper()
        if slot in self.f:
            return r.choice(self.f[slot])
        return slot


# slots that change from article to article even in one site's fixed trailer
VOLATILE_SLOTS = frozenset({"title", "url", "number", "percent", "price", "date", "coin", "author", "caption"})


def _fill(template: str, filler: _Filler, site: str, rng: random.Random, fixed: _Filler | None = None) -> list[str]:
    """Fill the slots of a template; with ``fixed`` (a site's own filler, re-seeded per use), the
    site's trailer keeps its brand, handle and wording and only volatile slots change."""
    if fixed is not None:
        text = SLOT.sub(lambda m: (filler if m.group(1) in VOLATILE_SLOTS else fixed).value(m.group(1), site), template)
        rng = fixed.rng
    else:
        text = SLOT.sub(lambda m: filler.value(m.group(1), site), template)
    # realistic variation: casing, lost final punctuation, emoji, leading labels
    x = rng.random()
    if x < 0.04 and len(text) < 90:
        text = text.upper()
    elif x < 0.12 and text[-1:] in ".!":
        text = text[:-1]
    if rng.random() < 0.05:
        text = rng.choice(EMOJI) + " " + text
    return [line.strip() for line in text.split(BR) if line.strip()]


def _wrap(block: str, width: int) -> str:
    if len(block) <= width or " | " in block:
        return block
    return "\n".join(textwrap.wrap(block, width=width, break_long_words=False, break_on_hyphens=False))


class _Builder:
    """Appends pieces while recording promo spans (offsets exclude surrounding whitespace)."""

    def __init__(self):
        self.parts: list[str] = []
        self.length = 0
        self.spans: list[list] = []

    def add(self, text: str, kind: Kind | None = None) -> None:
        if kind is not None and text.strip():
            lead = len(text) - len(text.lstrip())
            start = self.length + lead
            self.spans.append([start, start + len(text.strip()), kind.value])
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class _SiteStyle:
    """One site of a generated batch: its name, layout, promo families and *signature*, the
    trailer templates it glues onto most of its articles (each with how often, and a seed that
    fixes its non-volatile slots)."""

    site: str
    layout: str
    families: dict
    signature: list  # (template, kind, probability, seed)
    # content the site repeats too: its regular authors' bios and newsroom endings, and a
    # section separator line, so that repetition alone is never taken for a promo
    house: list = field(default_factory=list)  # (line, probability)
    separator: str | None = None


def _site_style(corpus: Corpus, rng: random.Random, titles: list[str]) -> _SiteStyle:
    filler = _Filler(corpus.fillers, titles, rng)
    by_kind: dict[Kind, list[Family]] = {}
    for fam in corpus.families:
        by_kind.setdefault(fam.kind, []).append(fam)
    families = {k: rng.sample(v, min(2, len(v))) for k, v in by_kind.items()}
    signature = []
    for _ in range(rng.choices([0, 1, 2, 3, 4], [10, 35, 30, 17, 8])[0]):
        kind = rng.choices(list(KIND_WEIGHTS), list(KIND_WEIGHTS.values()))[0]
        if families.get(kind):
            template = rng.choice(rng.choice(families[kind]).templates)
            signature.append((template, kind, rng.choice([0.5, 0.8, 0.95, 1.0]), rng.randrange(2**31)))
    layout = rng.choices(["line", "blank", "wrapped", "flat", "crlf", "glued"], [45, 22, 10, 10, 8, 5])[0]
    endings = [x for t, x in corpus.negatives if t == FURNITURE + "wire_endings"]
    house = [(rng.choice(endings), rng.choice([0.2, 0.4, 0.7])) for _ in range(rng.choice([0, 1, 1, 2, 3]))] if endings else []
    separator = rng.choice(["—", "***", "* * *", "■", "—", "- - -", "•"]) if rng.random() < 0.25 else None
    return _SiteStyle(filler.site(), layout, families, signature, house, separator)


def _compose(article: Article, corpus: Corpus, rng: random.Random, titles: list[str], doc_id: str,
             style: _SiteStyle | None = None) -> dict:
    filler = _Filler(corpus.fillers, titles, rng)
    site = style.site if style else filler.site()
    # layout of the site
    layout = style.layout if style else rng.choices(["line", "blank", "wrapped", "flat", "crlf", "glued"], [45, 22, 10, 10, 8, 5])[0]
    sep = {"line": "\n", "blank": "\n\n", "wrapped": "\n\n", "flat": " ", "crlf": "\r\n", "glued": ""}[layout]
    if layout == "wrapped" and rng.random() < 0.4:
        sep = "\n"
    line_sep = "\r\n" if layout == "crlf" else "\n"
    width = rng.randint(60, 90)

    blocks: list[tuple[str, Kind | None]] = [(b, None) for b in article.blocks]
    lede = 1
    if rng.random() < 0.25:
        blocks = blocks[1:]  # scraped body without its headline
        lede = 0
    if rng.random() < SHORT_SHARE:
        blocks = blocks[: lede + rng.randint(2, 4)]

    by_kind: dict[Kind, list[Family]] = {}
    for fam in corpus.families:
        by_kind.setdefault(fam.kind, []).append(fam)
    kinds = [k for k in KIND_WEIGHTS if by_kind.get(k)]
    weights = [KIND_WEIGHTS[k] for k in kinds]
    # a site reuses a few families: pick them once per document (once per site in a batch)
    site_families = ({k: style.families[k] for k in kinds if style.families.get(k)} if style else
                     {k: rng.sample(by_kind[k], min(2, len(by_kind[k]))) for k in kinds})

    def promo(kind: Kind | None = None) -> list[tuple[str, Kind]]:
        kind = kind if kind in site_families else rng.choices(kinds, weights)[0]
        fam = rng.choice(site_families[kind]) if rng.random() < 0.7 else rng.choice(by_kind[kind])
        return [(line, kind) for line in _fill(rng.choice(fam.templates), filler, site, rng)]

    negatives = [x for t, x in corpus.negatives if not t.startswith(FURNITURE)]
    furniture: dict[str, list[str]] = {}
    for t, x in corpus.negatives:
        if t.startswith(FURNITURE):
            furniture.setdefault(t[len(FURNITURE):], []).append(x)

    def insert_at(where: int, piece: list) -> None:
        blocks[where:where] = piece

    # the first paragraph of prose (after the headline, bylines and the like)
    lede = next((i for i in range(lede, len(blocks)) if len(blocks[i][0]) > 80), None)
    if (furniture.get("datelines") and lede is not None and rng.random() < DATELINE_SHARE
            and not _HAS_DATELINE.match(blocks[lede][0])):
        # "CITY (Agency) --" before the lede: content, however much a wire name looks like chrome
        dateline = SLOT.sub(lambda m: filler.value(m.group(1), site), rng.choice(furniture["datelines"]))
        if dateline.endswith(("--", "—", "-")) and rng.random() < DATELINE_OWN_LINE:
            blocks.insert(lede, (dateline, None))  # a flattened page puts it on a line of its own
        else:
            joiner = "" if dateline.endswith("--") and rng.random() < 0.5 else " "
            blocks[lede] = (dateline + joiner + blocks[lede][0], None)
    # editorial furniture that looks like chrome but is content: subheadings, fact lists,
    # one-line paragraphs, and newsroom endings (reporting credits, update notes, bios)
    if furniture.get("subheadings") and len(blocks) > 3 and rng.random() < 0.35:
        for _ in range(rng.randint(1, 3)):
            insert_at(rng.randint(2, len(blocks) - 1), [(rng.choice(furniture["subheadings"]), None)])
    if furniture.get("fact_lines") and rng.random() < 0.15:
        facts = [(rng.choice(furniture["fact_lines"]), None) for _ in range(rng.randint(2, 6))]
        insert_at(rng.randint(1, len(blocks)), facts)
    if furniture.get("short_lines") and rng.random() < 0.3:
        for _ in range(rng.randint(1, 2)):
            insert_at(rng.randint(1, len(blocks)), [(rng.choice(furniture["short_lines"]), None)])
    if furniture.get("social_embeds") and len(blocks) > 3 and rng.random() < 0.12:
        # an embedded social post, usually after an editorial lead-in: article content, however
        # much it looks like a call to action (hashtags, links, emoji, "you")
        piece = [(rng.choice(furniture["social_embeds"]), None) for _ in range(rng.choice([1, 1, 1, 2]))]
        if furniture.get("embed_intros") and rng.random() < 0.75:
            piece.insert(0, (rng.choice(furniture["embed_intros"]), None))
        insert_at(rng.randint(2, len(blocks) - 1), piece)
    if furniture.get("code_lines") and rng.random() < (0.35 if article.domain in CODE_DOMAINS else 0.02):
        # commands, code and CSS quoted in a how-to: content, however much they look like page code
        insert_at(rng.randint(1, len(blocks)), [(rng.choice(furniture["code_lines"]), None)
                                                for _ in range(rng.randint(1, 4))])
    if furniture.get("interview_lines") and len(blocks) > 3 and rng.random() < 0.06:
        # a transcript excerpt: speaker-labelled turns ("NAME: ..."), content however much a
        # label looks like "Related: ..."
        insert_at(rng.randint(2, len(blocks) - 1), [(rng.choice(furniture["interview_lines"]), None)
                                                    for _ in range(rng.randint(2, 6))])
    if furniture.get("wire_endings") and rng.random() < 0.3:
        blocks += [(rng.choice(furniture["wire_endings"]), None) for _ in range(rng.choice([1, 1, 1, 2]))]

    if style:
        if style.separator and len(blocks) > 4 and rng.random() < 0.6:
            for _ in range(rng.randint(1, 2)):
                insert_at(rng.randint(2, len(blocks) - 1), [(style.separator, None)])
        blocks += [(line, None) for line, probability in style.house if rng.random() < probability]

    glued_after: dict[int, list[tuple[str, Kind | None]]] = {}
    glued_before: dict[int, list[tuple[str, Kind | None]]] = {}
    if negatives and rng.random() < 0.45:
        for _ in range(rng.randint(1, 3)):
            sentence = rng.choice(negatives)
            where = rng.randint(1, len(blocks))
            if rng.random() < 0.35 and where > 1:
                glued_after.setdefault(where - 1, []).append((sentence, None))
            else:
                blocks.insert(where, (sentence, None))

    def headline_run(lo: int = 2, hi: int = 5) -> list[tuple[str, Kind]]:
        """A "related stories" list: an optional header line, then bare headlines."""
        header = []
        if rng.random() < 0.7:
            untitled = [t for f in by_kind.get(Kind.CROSSPROMO, []) for t in f.templates
                        if "{title}" not in t and BR not in t and len(t) < 60]
            if untitled:
                header = [(line, Kind.CROSSPROMO) for line in _fill(rng.choice(untitled), filler, site, rng)]
        return header + [(rng.choice(titles), Kind.CROSSPROMO) for _ in range(rng.randint(lo, hi))]

    has_promo = rng.random() < 0.82 and kinds
    if has_promo:
        if rng.random() < 0.2 and len(blocks) > 4:
            # promo-dense pages: a caption credit or teaser every few paragraphs, so prose
            # sandwiched between promos is seen as what it is
            where = rng.randint(2, 3)
            while where < len(blocks) - 1:
                insert_at(where, promo(rng.choice(MID_KINDS)))
                where += rng.randint(3, 5)
        elif rng.random() < 0.4:  # mid-article: teasers, captions with credits, ad labels
            for _ in range(rng.randint(1, 3)):
                where = rng.randint(1, max(1, len(blocks) - 1))
                piece = promo(rng.choice(MID_KINDS) if rng.random() < 0.8 else None)
                if rng.random() < 0.15:
                    glued_after.setdefault(where - 1, []).extend(piece)
                else:
                    insert_at(where, piece)
        if rng.random() < 0.06:
            insert_at(rng.randint(2, max(2, len(blocks) - 1)), headline_run(1, 3))
        if rng.random() < 0.12:
            insert_at(0, promo(rng.choice(START_KINDS)))
        elif rng.random() < 0.06 and len(blocks) > 2:  # "(Wire) -- Sign up for ..." glued before the lede
            glued_before.setdefault(1, []).extend(promo(rng.choice((Kind.CTA, Kind.AD, Kind.CREDIT)))[:1])
        signature: list[tuple[str, Kind | None]] = []
        for template, kind, probability, seed in (style.signature if style else ()):
            if rng.random() < probability:
                fixed = _Filler(corpus.fillers, titles, random.Random(seed))
                signature += [(line, kind) for line in _fill(template, filler, site, rng, fixed)]
        if signature or rng.random() < 0.8 or not any(k for _, k in blocks):
            trailers: list[tuple[str, Kind | None]] = []
            for _ in range(rng.choices([0, 1, 2, 3] if signature else [1, 2, 3, 4, 5],
                                       [50, 30, 15, 5] if signature else [40, 30, 16, 9, 5])[0]):
                trailers += headline_run() if rng.random() < 0.1 else promo()
            if signature:  # (no draw without one: documents alone come out as they always did)
                trailers = trailers + signature if rng.random() < 0.7 else signature + trailers
            if rng.random() < 0.25:
                glued_after.setdefault(len(blocks) - 1, []).extend(trailers[:1])
                trailers = trailers[1:]
            blocks += trailers

    out = _Builder()
    if layout != "flat" and rng.random() < 0.05:
        out.add(rng.choice(["\n", "  ", "\ufeff"]))
    for i, (block, kind) in enumerate(blocks):
        if i:
            out.add(sep if kind is None or layout in ("flat", "glued") else (line_sep if sep in ("\n", "\r\n", "\n\n") and rng.random() < 0.3 else sep))
        for glued, gkind in glued_before.get(i, []):
            out.add(glued, gkind)
            out.add(" ")
        text = _wrap(block, width) if layout == "wrapped" else block
        if line_sep != "\n":
            text = text.replace("\n", line_sep)
        out.add(text, kind)
        for glued, gkind in glued_after.get(i, []):
            out.add(rng.choice([" ", " ", " ", "  ", ""]) if gkind else " ")
            out.add(glued, gkind)
    if layout not in ("flat", "glued") and rng.random() < 0.6:
        out.add(line_sep)
    return {"id": doc_id, "site": site, "text": out.text(), "promo_spans": out.spans}


def generate_batches(corpus: Corpus, n_docs: int, seed: int = 0, prefix: str = "batch", group=None,
                     max_batch: int = 120) -> list[dict]:
    """Compose ``n_docs`` documents in *batches*, as a pipeline sees them: each batch holds a few
    sites, each site glues its own trailers (the same template, new titles and URLs) onto most
    of its articles, and real text repeats too: syndicated articles appear on several sites,
    newsroom endings and stock phrases recur. Every document carries ``batch`` (its batch id)
    and ``site``; repetition is only ever counted within a batch.

    A batch never holds more distinct articles than the corpus has, so article sentences repeat
    only where a story is syndicated."""
    if not corpus.articles:
        raise ValueError("the corpus has no articles")
    rng = random.Random(seed)
    titles = [a.title for a in corpus.articles]
    docs: list[dict] = []
    batch = 0
    while len(docs) < n_docs:
        size = min(n_docs - len(docs), rng.randint(8, max_batch), len(corpus.articles) + 10)
        articles = rng.sample(corpus.articles, min(size, len(corpus.articles)))
        # syndication: a share of the batch re-runs stories already in it, on other sites
        n_syndicated = min(size - len(articles) + int(size * rng.choice([0.0, 0.05, 0.1, 0.2])), size // 2)
        articles = articles[: size - n_syndicated] + [rng.choice(articles[: size - n_syndicated]) for _ in range(n_syndicated)]
        styles = [_site_style(corpus, rng, titles) for _ in range(rng.randint(1, 6))]
        weights = [rng.random() + 0.2 for _ in styles]
        for article in articles:
            style = rng.choices(styles, weights)[0]
            doc = _compose(article, corpus, rng, titles, f"{prefix}-{len(docs):06d}", style)
            doc["batch"] = f"{prefix}-{batch}"
            if group is not None:
                doc["group"] = group
            docs.append(doc)
        batch += 1
    return docs


def generate(corpus: Corpus, n_docs: int, seed: int = 0, prefix: str = "gen", group=None) -> list[dict]:
    """Compose ``n_docs`` labelled documents from ``corpus``, deterministically for a seed.

    ``group`` is stored in every document: documents of one group may share articles and promo
    families, documents of different groups should not (see ``split_folds``)."""
    if not corpus.articles:
        raise ValueError("the corpus has no articles")
    rng = random.Random(seed)
    titles = [a.title for a in corpus.articles]
    docs = []
    for i in range(n_docs):
        article = corpus.articles[i % len(corpus.articles)] if i < len(corpus.articles) else rng.choice(corpus.articles)
        doc = _compose(article, corpus, rng, titles, f"{prefix}-{i:06d}")
        if group is not None:
            doc["group"] = group
        docs.append(doc)
    return docs
