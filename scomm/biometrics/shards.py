"""A gallery split over several directories (shards), searched across machines with Ray."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from scomm.biometrics.gallery import Gallery
from scomm.biometrics.search import Candidate
from scomm.biometrics.template import Template
from scomm.errors import InputError


def search_shards(
    paths: Sequence[str | os.PathLike[str]],
    probe: Mapping[int, Template],
    max_candidates: int = 10,
    address: str | None = None,
) -> list[Candidate]:
    """Search galleries split over several directories as Ray tasks and merge the candidates.

    ``address`` is a Ray cluster's address; without one Ray starts locally. Each shard must be
    reachable at its path from the node that runs its task (a shared file system).
    """
    try:
        import ray
    except ImportError:
        raise InputError("ray", "not installed: pip install 'scomm[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(_search_one_shard)
    futures = [task.remote(str(p), dict(probe), max_candidates) for p in paths]
    merged: list[Candidate] = [c for part in ray.get(futures) for c in part]
    merged.sort(key=lambda c: (-c.score, c.subject_id))
    return merged[:max_candidates]


def _search_one_shard(
    path: str, probe: Mapping[int, Template], max_candidates: int
) -> list[Candidate]:
    return Gallery.open(path).search(probe, max_candidates)
