"""Explaining chunks of texts in order, in this process or in a pool of worker processes.

Each worker loads the model once (from its path: the model is not pickled to every task) and
cleans whole chunks; results come back in input order, so ``jobs=N`` writes the same bytes as
one job. At most ``2 * jobs`` chunks are in flight, so memory stays bounded on any input size.
"""
from __future__ import annotations

import sys
from collections import deque
from typing import TYPE_CHECKING, Iterable, Iterator

from .results import StripConfig, Stripped

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["Explainer", "warm_up", "count_chunks"]

# What worker processes import before they are forked from the fork server (see warm_up).
# Scoring needs NumPy alone (promofilter.scoring); pandas hashes batch mode's segment forms.
_PRELOAD = ["promofilter.parallel", "promofilter.stripping", "promofilter.scoring", "promofilter.persist",
            "promofilter.modelfile", "pandas"]
_use_forkserver = sys.platform == "linux"


def _context():
    """The multiprocessing context of worker pools: fork server on Linux, else spawn. Not plain
    fork: the parent may hold OpenMP threads (the model's trees) or Arrow's I/O threads, which a
    fork breaks. The fork server is a fresh process
    that imports NumPy, pandas and promofilter once (it never scores, so no tree threads);
    each worker is forked from it with those imports done and only loads the model. macOS keeps
    spawn (forking after numpy/Accelerate is what CPython warns about there), and so does a fork
    server that cannot start (its socket path under a long TMPDIR, say).

    multiprocessing and concurrent.futures are imported only when there are workers: one job,
    the default, starts 20 ms sooner without them."""
    import multiprocessing

    if _use_forkserver:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def warm_up(jobs: int) -> None:
    """Start the fork server now, so its imports run while this process loads its own model and
    reads its input (``--jobs N`` pays the import cost once, not once per worker, and early)."""
    global _use_forkserver
    if jobs > 1 and _use_forkserver:
        from multiprocessing import forkserver

        try:
            _context()
            forkserver.ensure_running()
        except OSError:
            _use_forkserver = False


def _init_worker(model_path: str | None, trusted: bool, repetition=None) -> None:
    global _worker_model, _worker_repetition
    from threadpoolctl import threadpool_limits

    from . import load_model

    _worker_model = load_model(model_path, trusted=trusted)
    # one thread per worker: N workers each running N OpenMP/BLAS threads oversubscribe the
    # cores (measured: --jobs 2 ran at 0.7x one job). After loading: threadpoolctl can only
    # limit thread pools of libraries already loaded (NumPy's BLAS; OpenMP if a model needs
    # scikit-learn to score).
    threadpool_limits(1)
    _worker_repetition = repetition


def _explain_chunk(texts: list[str], sites: list | None, config: StripConfig) -> list[Stripped]:
    return list(_worker_model.explain_many(texts, config, sites, _worker_repetition))


def _in_order(pool: ProcessPoolExecutor, jobs: int, calls: Iterable[tuple]) -> Iterator:
    """Results of ``pool.submit(*call)`` for each call, in order, at most ``2 * jobs`` in flight."""
    window: deque = deque()
    for call in calls:
        window.append(pool.submit(*call))
        if len(window) >= 2 * jobs:
            yield window.popleft().result()
    while window:
        yield window.popleft().result()


def _count_chunk(texts: list[str], sites: list | None):
    from .repetition import RepetitionCounter

    counter = RepetitionCounter(max_keys=sys.maxsize)  # one chunk: its totals are sent whole anyway
    counter.add(texts, sites)
    return counter.totals()


def count_chunks(chunks: Iterable[tuple[list[str], list | None]], jobs: int = 1):
    """Batch mode's counting pass (see ``promofilter.repetition``) over chunks of (texts, sites),
    in ``jobs`` worker processes: each counts its chunks, this process adds the counts up. The
    counts are the same for any ``jobs``; the workers need no model."""
    from .repetition import RepetitionCounter

    from .resources import release_freed_memory

    counter = RepetitionCounter()
    if jobs == 1:
        for texts, sites in chunks:
            counter.add(texts, sites)
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs, mp_context=_context()) as pool:
            for keys, counts, documents in _in_order(pool, jobs, ((_count_chunk, t, s) for t, s in chunks)):
                counter.add_counts(keys, counts, documents)
    counts = counter.freeze()
    del counter
    release_freed_memory()  # the cleaning pass that follows holds only the frozen counts
    return counts


class Explainer:
    """``map(chunks)`` yields the ``Stripped`` results of each chunk, in order. A chunk is a list
    of texts, or a pair (texts, sites) when rules limited to sites may apply.

    ``model`` is used in this process when ``jobs`` is 1; with more jobs, ``jobs`` worker
    processes each load ``model_path`` (None: the default model) once. ``repetition`` (batch
    mode: counts of the whole batch, see ``PromoFilter.count_repetition``) is sent to each worker
    once, so every chunk is scored against the same counts.
    """

    def __init__(self, model, config: StripConfig, jobs: int = 1, model_path: str | None = None,
                 trusted: bool = False, repetition=None):
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        if model_path is None and jobs > 1:
            # resolved here: workers must load the model this process uses, whatever their
            # environment ($PROMOFILTER_MODEL as it was when the fork server started, say)
            from . import default_model_path

            model_path = str(default_model_path().resolve())
        self.model, self.config, self.jobs = model, config, jobs
        self.model_path, self.trusted, self.repetition = model_path, trusted, repetition

    def map(self, chunks: Iterable[list[str]]) -> Iterator[list[Stripped]]:
        if self.jobs == 1:
            for chunk in chunks:
                texts, sites = chunk if isinstance(chunk, tuple) else (chunk, None)
                yield list(self.model.explain_many(texts, self.config, sites, self.repetition)) if texts else []
            return
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(self.jobs, mp_context=_context(), initializer=_init_worker,
                                 initargs=(self.model_path, self.trusted, self.repetition)) as pool:
            calls = ((_explain_chunk, *(chunk if isinstance(chunk, tuple) else (chunk, None)), self.config)
                     for chunk in chunks)
            yield from _in_order(pool, self.jobs, calls)
