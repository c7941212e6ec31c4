"""Config files: the stripping policy and rules in ``promofilter.toml``.

::

    threshold = 0.9                 # default: the model's own
    run_threshold = 0.8             # after a removed one (or before it on its line), from this score on
                                    # (default: the model's, with its own threshold; 1.0: off)
    remove = ["ad", "cta", "crosspromo", "boilerplate", "disclaimer", "credit"]
    keep = ["credit"]               # never removed (applied after ``remove``)
    builtin_rules = true            # feed footers ("The post ... appeared first on ...") by shape

    [thresholds]                    # per kind, overriding ``threshold``
    cta = 0.8

    [[rules]]
    name = "acme-sponsor"
    action = "block"                # or "allow"
    kind = "ad"                     # what a block rule's removals are called (default ad)
    regex = "^Presented by Acme\\b"  # or literal = "...", or template = "... {slot} ..."
    sites = ["acme-news.example"]   # optional: only for documents of these sites
"""
from __future__ import annotations

import sys
from pathlib import Path

from .results import Kind, StripConfig
from .rules import Rule, RuleError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["CONFIG_NAME", "ConfigError", "find_config", "load_config", "config_from_dict"]

CONFIG_NAME = "promofilter.toml"
_KEYS = {"threshold", "run_threshold", "remove", "keep", "thresholds", "rules", "builtin_rules"}


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the problem."""


def find_config(directory: str | Path | None = None) -> Path | None:
    """``promofilter.toml`` in ``directory`` (default: the working directory), if there is one."""
    path = Path(directory or ".") / CONFIG_NAME
    return path if path.is_file() else None


def _kind_list(value, key: str) -> frozenset[Kind]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(f"{key} must be a list of kinds")
    try:
        return frozenset(Kind(str(v).strip()) for v in items if str(v).strip())
    except ValueError as e:
        raise ConfigError(f"{key}: {e}; kinds are {', '.join(k.value for k in Kind.promo_kinds())}") from None


def config_from_dict(data: dict) -> StripConfig:
    """A StripConfig from the parsed contents of a config file."""
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(_KEYS))})")
    kinds = set(_kind_list(data["remove"], "remove")) if "remove" in data else set(Kind.promo_kinds())
    kinds -= _kind_list(data.get("keep", []), "keep")
    rules = data.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ConfigError("rules must be an array of tables ([[rules]])")
    builtin_rules = data.get("builtin_rules", True)
    if not isinstance(builtin_rules, bool):
        raise ConfigError("builtin_rules must be true or false")
    thresholds = data.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise ConfigError("thresholds must be a table of kind = threshold")
    try:
        parsed_rules = tuple(Rule.from_dict(r) for r in rules)
        names = [r.name for r in parsed_rules]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ConfigError(f"rule names must be unique: {', '.join(duplicated)}")
        return StripConfig(threshold=data.get("threshold"), run_threshold=data.get("run_threshold"),
                           remove_kinds=frozenset(kinds),
                           kind_thresholds=thresholds, rules=parsed_rules, builtin_rules=builtin_rules)
    except (RuleError, ValueError, TypeError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(str(e)) from None


def load_config(path: str | Path) -> StripConfig:
    """Read a TOML config file; errors name the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
