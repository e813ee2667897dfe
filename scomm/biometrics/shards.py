"""A gallery split over several directories (shards), searched across processes or machines
with Ray.

Each shard is a gallery of its own (disjoint subjects). :class:`ShardedGallery` starts one Ray
actor per shard; the actor opens its shard once, memory-mapped, keeps it (and the screen's
transposed codes it builds on its first search) for every later search, and answers with its
best candidates. A search prepares the probe once, hands the same object to every actor,
and merges their candidates by score. Each shard keeps its own shortlist share of its
templates (the rate is per shard), so the work of a search is split, not repeated.

``address`` names a running Ray cluster (``ray start --head`` on one machine, ``ray start
--address HEAD:6379`` on the others); without one, Ray starts a local cluster of worker
processes on this machine. Each shard's path must be readable from the node its actor lands
on (a shared or replicated file system).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from scomm.biometrics.gallery import Gallery
from scomm.biometrics.search import (
    DEFAULT_SETTINGS,
    Candidate,
    PreparedProbe,
    SearchSettings,
    prepare_probe,
)
from scomm.biometrics.template import Template
from scomm.errors import InputError


class ShardSearcher:
    """What runs in each shard's actor: the shard's gallery, open for the actor's lifetime."""

    def __init__(self, path: str, verify: bool = True, threads: int | None = None) -> None:
        if threads is not None:
            import numba

            most = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
            numba.set_num_threads(max(1, min(threads, most)))
        self.gallery = Gallery.open(path, verify=verify)

    def size(self) -> int:
        return self.gallery.template_count

    def search_prepared(
        self, probe: PreparedProbe, max_candidates: int, settings: SearchSettings
    ) -> list[Candidate]:
        return self.gallery.search_prepared(probe, max_candidates, settings=settings)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("ray", "not installed: pip install 'scomm[ray]'") from None
    return ray


class ShardedGallery:
    """Several gallery directories searched as one, one Ray actor per shard."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        address: str | None = None,
        verify: bool = True,
        threads_per_shard: int | None = None,
        num_cpus: int | None = None,
    ) -> None:
        """``threads_per_shard``: numba threads of each actor (default: all the node's cores,
        which oversubscribes a node holding several shards); ``num_cpus``: of a local
        cluster Ray starts (ignored with ``address``)."""
        if not paths:
            raise InputError("shards", "no shard directories given")
        for path in paths:
            if not (os.path.isdir(path) and os.path.exists(os.path.join(path, "manifest.json"))):
                raise InputError(str(path), "not a gallery directory (no manifest.json)")
        ray = _ray()
        if not ray.is_initialized():
            local = {} if address is not None else {"num_cpus": num_cpus}
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **local)
        actor = ray.remote(num_cpus=0)(ShardSearcher)  # placement by memory, not by CPU count
        self.paths = [str(p) for p in paths]
        self.actors = [actor.remote(p, verify, threads_per_shard) for p in self.paths]
        # Opening is done when each actor answers; an unreadable shard fails here, by name.
        self.sizes = ray.get([a.size.remote() for a in self.actors])

    @property
    def template_count(self) -> int:
        return int(sum(self.sizes))

    def search(
        self,
        probe: Mapping[int, Template],
        max_candidates: int = 10,
        settings: SearchSettings = DEFAULT_SETTINGS,
    ) -> list[Candidate]:
        """The best candidates over every shard (``settings``: as for
        :meth:`Gallery.search <scomm.biometrics.gallery.Gallery.search>`, each shard's)."""
        return self.search_prepared(prepare_probe(probe), max_candidates, settings)

    def search_prepared(
        self,
        probe: PreparedProbe,
        max_candidates: int = 10,
        settings: SearchSettings = DEFAULT_SETTINGS,
    ) -> list[Candidate]:
        ray = _ray()
        shared = ray.put(probe)  # one copy in the object store, read by every actor
        futures = [a.search_prepared.remote(shared, max_candidates, settings) for a in self.actors]
        return merge([c for part in ray.get(futures) for c in part], max_candidates)

    def close(self) -> None:
        ray = _ray()
        for a in self.actors:
            ray.kill(a)
        self.actors = []


def merge(candidates: list[Candidate], max_candidates: int) -> list[Candidate]:
    """Candidates of several shards as one ranking (shards hold disjoint subjects)."""
    return sorted(candidates, key=lambda c: (-c.score, c.subject_id))[:max_candidates]


def search_shards(
    paths: Sequence[str | os.PathLike[str]],
    probe: Mapping[int, Template],
    max_candidates: int = 10,
    address: str | None = None,
) -> list[Candidate]:
    """One search over galleries split in several directories (actors started and stopped
    for it; keep a :class:`ShardedGallery` open to search many probes)."""
    sharded = ShardedGallery(paths, address=address)
    try:
        return sharded.search(probe, max_candidates)
    finally:
        sharded.close()
