"""Ray Data integration: ask about every image of a dataset, with one rate limit per cluster.

Needs the ``ray`` extra (``pip install 'doubao-vision[ray]'``); importing
``doubao_vision`` alone never imports Ray.

- :func:`map_images`: a dataset in, the same rows with answers and typed errors out.
- :class:`AskImages`: the callable class under it, for ``Dataset.map_batches``.
- :func:`cluster_limit` / :class:`ClusterRateLimiter`: the cluster-wide rpm/tpm
  budget (a named Ray actor) and the per-process limiter that asks it.
- :func:`answered_keys`: the resume keys already answered in earlier results.
"""

from __future__ import annotations

try:
    import ray
    import ray.data
except ImportError as exc:  # pragma: no cover - checked in a subprocess
    raise ImportError(
        "doubao_vision.ray needs Ray Data; install the extra: pip install 'doubao-vision[ray]'"
    ) from exc

from ._limiter import ClusterLimit, ClusterRateLimiter, cluster_limit
from ._map import map_images
from ._resume import KEY_COLUMN, answered_keys
from ._udf import OUTPUT_COLUMNS, AskImages, is_fatal

del ray

__all__ = [
    "KEY_COLUMN",
    "OUTPUT_COLUMNS",
    "AskImages",
    "ClusterLimit",
    "ClusterRateLimiter",
    "answered_keys",
    "cluster_limit",
    "is_fatal",
    "map_images",
]
