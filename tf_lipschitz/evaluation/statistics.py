"""Feature statistics for FID: streamed mean and covariance, and an `.npz` cache of reference sets.

FID only needs the mean μ and covariance Σ of each set's pooled features. Both are accumulated batch
by batch in float64 with Chan et al.'s pairwise update, so memory is `O(d²)` whatever the set size, and
the result equals the two-pass estimate up to round-off. The covariance is the unbiased one (`N - 1`),
as in TF-GAN's `frechet_classifier_distance_from_activations`.

The statistics of a real data set are computed once per classifier and cached as
`<cache_dir>/<dataset>__<classifier>.npz`.

Reference:
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017.
    Chan, Golub and LeVeque, "Updating Formulae and a Pairwise Algorithm for Computing Sample
    Variances", 1979.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Callable

import numpy as np

__all__ = [
    "FeatureStatistics",
    "RunningMoments",
    "cache_root",
    "default_cache_dir",
    "statistics_cache_path",
    "load_or_compute",
    "save_statistics",
    "is_statistics_file",
    "load_statistics_file",
]

_CACHE_ENV = "TF_LIPSCHITZ_CACHE"


@dataclasses.dataclass(frozen=True)
class FeatureStatistics:
    """Mean and unbiased covariance of a set of feature vectors.

    Args:
        mean: `(d,)` float64.
        covariance: `(d, d)` float64.
        count: Number of feature vectors.

    Example:
        >>> stats = FeatureStatistics.from_features(np.eye(3))
        >>> stats.count, stats.mean.round(3).tolist()
        (3, [0.333, 0.333, 0.333])
    """

    mean: np.ndarray
    covariance: np.ndarray
    count: int

    @classmethod
    def from_features(cls, features) -> "FeatureStatistics":
        """Two-pass statistics of a `(N, d)` array (N >= 2)."""
        features = np.asarray(features, dtype=np.float64)
        covariance = np.atleast_2d(np.cov(features, rowvar=False, ddof=1))
        return cls(features.mean(axis=0), covariance, len(features))

    def save(self, path: str | os.PathLike, **metadata: str) -> None:
        """Writes `mean`, `covariance`, `count` and string `metadata` to an `.npz` file."""
        np.savez(path, mean=self.mean, covariance=self.covariance, count=self.count, **metadata)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStatistics":
        """Reads statistics written by `save` (also accepts the `mu`/`sigma` keys of other FID tools)."""
        with np.load(path) as data:
            mean = data["mean"] if "mean" in data else data["mu"]
            covariance = data["covariance"] if "covariance" in data else data["sigma"]
            count = int(data["count"]) if "count" in data else 0
        return cls(np.asarray(mean, np.float64), np.asarray(covariance, np.float64), count)


class RunningMoments:
    """Accumulates mean and scatter matrix of feature batches, in float64, one batch at a time.

    Example:
        >>> moments = RunningMoments()
        >>> for batch in np.array_split(np.arange(12.0).reshape(6, 2), 3):
        ...     moments.update(batch)
        >>> moments.result().covariance.tolist()
        [[14.0, 14.0], [14.0, 14.0]]
    """

    def __init__(self):
        self.count = 0
        self.mean = None
        self.scatter = None  # sum over samples of (x - mean)(x - mean)^T

    def update(self, batch) -> None:
        """Merges a `(n, d)` batch into the running mean and scatter."""
        batch = np.asarray(batch, dtype=np.float64)
        n = len(batch)
        if n == 0:
            return
        batch_mean = batch.mean(axis=0)
        centered = batch - batch_mean
        batch_scatter = centered.T @ centered
        if self.count == 0:
            self.count, self.mean, self.scatter = n, batch_mean, batch_scatter
            return
        total = self.count + n
        delta = batch_mean - self.mean
        self.scatter = self.scatter + batch_scatter + np.outer(delta, delta) * (self.count * n / total)
        self.mean = self.mean + delta * (n / total)
        self.count = total

    def result(self) -> FeatureStatistics:
        """The statistics so far.

        Raises:
            ValueError: With fewer than two samples, where the covariance is undefined.
        """
        if self.count < 2:
            raise ValueError(f"FID needs at least 2 images per set. Received: {self.count}")
        return FeatureStatistics(self.mean.copy(), self.scatter / (self.count - 1), self.count)


def cache_root() -> str:
    """The library's cache folder: `$TF_LIPSCHITZ_CACHE`, or `~/.cache/tf_lipschitz`.

    Example:
        >>> os.path.basename(cache_root()) if "TF_LIPSCHITZ_CACHE" not in os.environ else "tf_lipschitz"
        'tf_lipschitz'
    """
    return os.environ.get(_CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "tf_lipschitz")


def default_cache_dir() -> str:
    """`$TF_LIPSCHITZ_CACHE/fid_stats`, or `~/.cache/tf_lipschitz/fid_stats`.

    Example:
        >>> os.path.basename(default_cache_dir())
        'fid_stats'
    """
    return os.path.join(cache_root(), "fid_stats")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "unnamed"


def statistics_cache_path(dataset: str, classifier_name: str, cache_dir: str | os.PathLike | None = None) -> str:
    """Cache file of the reference statistics of `dataset` under the classifier `classifier_name`.

    Example:
        >>> os.path.basename(statistics_cache_path("mnist/test", "tfgan-inception-1", "/tmp"))
        'mnist-test__tfgan-inception-1.npz'
    """
    folder = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    return os.path.join(folder, f"{_slug(dataset)}__{_slug(classifier_name)}.npz")


def save_statistics(path: str, stats: FeatureStatistics, **metadata: str) -> None:
    """Writes `stats` to `path` (creating its folder) atomically: a killed run leaves no half-written cache."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = path + ".tmp.npz"
    stats.save(temporary, **metadata)
    os.replace(temporary, path)


def load_or_compute(path: str, compute: Callable[[], FeatureStatistics], **metadata: str) -> FeatureStatistics:
    """Returns the statistics cached at `path`, computing and saving them first when absent."""
    if os.path.exists(path):
        return FeatureStatistics.load(path)
    stats = compute()
    save_statistics(path, stats, **metadata)
    return stats


def is_statistics_file(path: str | os.PathLike) -> bool:
    """Whether `path` is an existing `.npz` of feature statistics (`mean`/`covariance` or `mu`/`sigma`).

    Example:
        >>> is_statistics_file("missing.npz")
        False
    """
    path = os.fspath(path)
    if not (path.endswith(".npz") and os.path.isfile(path)):
        return False
    with np.load(path) as data:
        return {"mean", "covariance"} <= set(data.files) or {"mu", "sigma"} <= set(data.files)


def load_statistics_file(path: str | os.PathLike) -> tuple[FeatureStatistics, str | None]:
    """Statistics written by `save_statistics`, and the name of the classifier they were computed with.

    Returns:
        `(stats, classifier)`; `classifier` is `None` when the file does not record it (other FID tools).

    Example:
        >>> save_statistics("/tmp/_s.npz", FeatureStatistics(np.zeros(2), np.eye(2), 5), classifier="c")
        >>> load_statistics_file("/tmp/_s.npz")[1]
        'c'
    """
    with np.load(path) as data:
        classifier = str(data["classifier"]) if "classifier" in data.files else None
    return FeatureStatistics.load(path), classifier
