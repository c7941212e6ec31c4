"""promofilter: find and strip the promotional segments glued into scraped articles.

>>> import promofilter
>>> promofilter.remove_spans("Story. Ad.", [(6, 10)])
'Story.'

The model is loaded lazily on the first call (never at import) and cached.
"""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .policy import SpanError, remove_spans
from .config import load_config
from .results import Decision, Kind, Segment, Span, StripConfig, Stripped
from .rules import Rule
from .segment import segment

if TYPE_CHECKING:
    from .stripping import PromoFilter

__version__ = "0.1.0"
__all__ = [
    "strip", "strip_and_explain", "detect", "strip_many", "load_model", "default_model_path",
    "remove_spans", "segment", "Span", "Stripped", "StripConfig", "Segment", "Kind", "Decision",
    "SpanError", "Rule", "load_config", "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

MODEL_ENV = "PROMOFILTER_MODEL"


def default_model_path() -> Path:
    """The default model: $PROMOFILTER_MODEL, else the current trained version (see
    ``promofilter models``), else the shipped model (inside an installed wheel, or ``models/`` of
    a source checkout)."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    from .registry import current_path

    trained = current_path()
    if trained is not None:
        return trained
    return shipped_model_path()


def shipped_model_path() -> Path:
    """The model shipped with the package."""
    packaged = Path(__file__).parent / "_model"
    if (packaged / "model.json").is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "models"


def load_model(path: str | os.PathLike | None = None, trusted: bool = False) -> "PromoFilter":
    """Load a model directory (default: the shipped model).

    The returned object has ``strip``, ``strip_and_explain``, ``detect`` and the batch
    ``strip_many``. Pickle files are refused unless ``trusted=True``.
    """
    from .persist import load_model_file

    if path is None:
        return _default_model()
    return load_model_file(path, trusted=trusted)


@functools.cache
def _default_model() -> "PromoFilter":
    from .persist import load_model_file

    return load_model_file(default_model_path())


def strip(text: str, config: StripConfig | None = None) -> str:
    """Return ``text`` without its promotional segments; every kept character is unchanged."""
    return _default_model().strip(text, config)


def strip_and_explain(text: str, config: StripConfig | None = None) -> Stripped:
    """Like ``strip``, and also the removed spans (offsets into ``text``, score, kind)."""
    return _default_model().strip_and_explain(text, config)


def detect(text: str, config: StripConfig | None = None) -> list[Span]:
    """Every segment of ``text`` with its promo score and kind, removed or not."""
    return _default_model().detect(text, config)


def strip_many(texts, config: StripConfig | None = None) -> list[str]:
    """``strip`` over many texts, scored together in vectorised batches."""
    return _default_model().strip_many(texts, config)
