"""Evaluation backends: where a batch of proxy calls runs.

``serial`` (default) runs in the calling process; ``processes`` uses a local process pool;
``ray`` submits tasks to a Ray cluster (``address``) or to a local Ray it starts. Only the proxy
calls are distributed: `Problem.evaluate_many` keeps budget accounting, the SQLite cache and the
run record in the calling process, in the order of the batch, so records stay consistent and a
run is reproducible whichever backend computed it. Proxies travel as recipes (a `ModelContext`
pickles as its `load_context` arguments), so workers load the model once and keep it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class SerialBackend:
    name = "serial"

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return [fn(x) for x in items]

    def close(self) -> None:
        pass


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class ProcessBackend:
    """A local pool of ``workers`` processes (spawned, one torch thread each by default)."""

    name = "processes"

    def __init__(self, workers: int = 2, threads_per_worker: int = 1):
        if workers <= 0:
            raise ValueError(f"workers must be positive, got {workers}")
        import multiprocessing as mp

        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                         initargs=(threads_per_worker,))

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


class RayBackend:
    """Ray tasks; ``address=None`` starts (or joins) a local Ray with ``workers`` CPUs."""

    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None, threads_per_worker: int = 1):
        try:
            import ray
        except ImportError as e:  # pragma: no cover - ray is a dependency
            raise ImportError("the ray backend needs Ray: pip install 'ray>=2.9'") from e
        self.ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": workers}
            ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                     runtime_env={"env_vars": {"OMP_NUM_THREADS": str(threads_per_worker),
                                               "PYTHONPATH": os.pathsep.join(_paths())}}, **kwargs)
        self._call = ray.remote(num_cpus=1)(_ray_call)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        ref = self.ray.put(fn)
        return self.ray.get([self._call.remote(ref, x) for x in items])

    def close(self) -> None:
        pass  # leave Ray running for the next batch; `ray.shutdown()` at exit


def _ray_call(fn: Callable[[Any], Any], x: Any) -> Any:
    import torch

    torch.set_num_threads(1)
    return fn(x)


def _paths() -> list[str]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


BACKENDS = {"serial": SerialBackend, "processes": ProcessBackend, "ray": RayBackend}


def make_backend(name: str = "serial", **kwargs: Any) -> Any:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    return BACKENDS[name](**kwargs) if name != "serial" else SerialBackend()
