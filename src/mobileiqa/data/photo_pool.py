"""Running one job per reference photo, in spawned worker processes or in this one, with a progress bar: what the
dataset build and the local targets share."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from tqdm import tqdm


def map_photos(fn: Callable, jobs: Sequence, workers: int, desc: str, progress: bool = True,
               min_jobs_per_worker: int = 1, initializer: Callable | None = None, initargs: tuple = ()) -> list:
    """``fn(job)`` for every job, in order: in ``workers`` spawned processes when each gets at least
    ``min_jobs_per_worker`` jobs (a process's start costs seconds), else here. ``fn`` must be importable (picklable)."""
    bar = tqdm(total=len(jobs), desc=desc, unit="photo", disable=not progress)
    results: list = []
    try:
        if workers > 1 and len(jobs) >= min_jobs_per_worker * workers:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=initializer,
                                     initargs=initargs) as pool:
                for result in pool.map(fn, jobs):
                    results.append(result)
                    bar.update()
        else:
            for job in jobs:
                results.append(fn(job))
                bar.update()
    finally:
        bar.close()
    return results
