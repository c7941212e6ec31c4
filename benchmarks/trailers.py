"""The canonical trailers users ask about first, appended to clean articles: how often is exactly
the trailer removed?

    python benchmarks/trailers.py [--model DIR ...] [--seed 1]

Each trailer template (the ones the README and the mission name: "The post ... appeared first on
...", "Read more: ...", image credits, follow and newsletter calls, a syndication-feed ad, app and
alert plugs) gets a title, site and handle drawn from short authored lists (seeded), and is added
to every clean article of ``tests/cases`` (expect "pass", longer than 600 characters) on a line
of its own at the end, or glued after the last sentence. A document counts as *exact* when the
output is the article alone: the trailer is gone and no article character is. Prints, per
trailer and placement, the share of exact documents and the median score of the trailer's
segment, one column per model.
The real-world file holds only two "appeared first on" trailers, so it cannot measure these.
Stripping runs with the default policy, so "The post ... appeared first on ..." is also removed by
the built-in feed-footer rule (``promofilter.policy.FEED_FOOTER``); ``--model-only`` turns it off
to measure the model alone.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

import promofilter
from promofilter import StripConfig
from promofilter.policy import remove_spans

ROOT = Path(__file__).resolve().parent.parent

TITLES = (
    "City Council Approves $48 Million Budget", "Bitcoin Slides Below $60,000 as ETF Outflows Mount",
    "Why the Fed May Wait Until March", "Review: The New Pixel Is Fast, Bright and Pricey",
    "Heatwave Grips Southern Europe for Third Week", "5 Things to Know Before Markets Open",
    "Inside the Race to Build Cheaper Batteries", "Local Bakery Wins National Bread Award",
)
SITES = ("Riverside Ledger", "CoinDaily", "TechNorth", "The Market Brief", "Daily Hodl News", "Greenfield Post")
HANDLES = ("@riversideledger", "@coindaily", "@technorth", "@marketbrief")
TRAILERS = (
    "The post {title} appeared first on {site}.",
    "Read more: {title}",
    "Featured image from Shutterstock, chart from TradingView.com",
    "Follow us on X and Telegram for the latest updates.",
    "Subscribe to our newsletter for more stories like this.",
    "Follow {handle} on X for breaking news.",
    "KEY Difference Wire helps crypto brands break through and dominate headlines fast",
    "Download our app to get breaking news alerts on your phone.",
    "Sign up for {site} alerts to get the news that matters first.",
)
PLACEMENTS = {"own line": "\n", "glued": " "}


def clean_articles() -> list[str]:
    cases = [c for p in sorted((ROOT / "tests" / "cases").glob("*.json")) for c in json.loads(p.read_text("utf-8"))]
    return [c["stripped"] for c in cases if c["expect"] == "pass" and len(c["stripped"]) > 600]


def measure(model, articles: list[str], seed: int, config: StripConfig | None = None) -> dict:
    rng = random.Random(seed)
    out = {}
    for template in TRAILERS:
        for placement, glue in PLACEMENTS.items():
            exact, scores = 0, []
            for article in articles:
                trailer = template.format(title=rng.choice(TITLES), site=rng.choice(SITES), handle=rng.choice(HANDLES))
                body = article.rstrip("\n")
                text = body + glue + trailer + "\n"
                spans = model.detect(text, config)  # one pass: the cleaned text is rebuilt from its spans
                exact += remove_spans(text, [s for s in spans if s.removed]).rstrip("\n") == body
                scores.append(max((s.score for s in spans if trailer[:15] in s.text), default=0.0))
            out[(template, placement)] = (exact / len(articles), statistics.median(scores))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="model directory (repeat to compare; default: the shipped one)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model-only", action="store_true", help="turn the built-in feed-footer rule off")
    args = ap.parse_args()
    paths = args.model or [str(ROOT / "models")]
    articles = clean_articles()
    results = [(p, promofilter.load_model(p)) for p in paths]
    print(f"{len(articles)} clean articles from tests/cases; share of documents cleaned exactly "
          f"(median score of the trailer)")
    print(f"{'trailer':58s} {'placement':9s} " + " ".join(f"{Path(p).name[-18:]:>18s}" for p in paths))
    config = StripConfig(builtin_rules=not args.model_only)
    measured = [measure(m, articles, args.seed, config) for _, m in results]
    for key in measured[0]:
        template, placement = key
        cells = " ".join(f"{m[key][0]:>11.2f} ({m[key][1]:.2f})" for m in measured)
        print(f"{template[:58]:58s} {placement:9s} {cells}")
    for (p, m), res in zip(results, measured):
        print(f"{p}: threshold {m.threshold}, all trailers {statistics.mean(v[0] for v in res.values()):.2f} exact")


if __name__ == "__main__":
    main()
