"""Feature statistics for FID: streamed mean and covariance, and an `.npz` cache of reference sets.

FID only needs the mean μ and covariance Σ of each set's pooled features. Both are accumulated batch
by batch in float64 with Chan et al.'s pairwise update, so memory is `O(d²)` whatever the set size, and
the result equals the two-pass estimate up to round-off. The covariance is the unbiased one (`N - 1`),
as in TF-GAN's `frechet_classifier_distance_from_activations`.

The statistics of a real data set are computed once per classifier and set of images, and cached as
`<cache_dir>/<dataset>__<classifier>__<fingerprint>.npz` (the fingerprint hashes the images' file or array).
Statistics read from a file are checked (`check_statistics`) before they enter FID.

Reference:
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017.
    Chan, Golub and LeVeque, "Updating Formulae and a Pairwise Algorithm for Computing Sample
    Variances", 1979.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from typing import BinaryIO, Callable

import numpy as np

from tf_lipschitz.foundations.files import write_atomically

__all__ = [
    "FeatureStatistics",
    "check_statistics",
    "fingerprint_array",
    "fingerprint_path",
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

    def save(self, path: str | os.PathLike | BinaryIO, **metadata: str) -> None:
        """Writes `mean`, `covariance`, `count` and string `metadata` to an `.npz` file (a path or binary handle)."""
        np.savez(path, mean=self.mean, covariance=self.covariance, count=self.count, **metadata)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStatistics":
        """Reads statistics written by `save` (also accepts the `mu`/`sigma` keys of other FID tools).

        Raises:
            ValueError: If the file lacks the arrays, or they are not a valid mean and covariance
                (`check_statistics`); the message names the file.
        """
        with np.load(path) as data:
            try:
                mean = data["mean"] if "mean" in data else data["mu"]
                covariance = data["covariance"] if "covariance" in data else data["sigma"]
            except KeyError:
                raise ValueError(f"{os.fspath(path)} holds no mean/covariance (or mu/sigma) arrays.") from None
            count = int(data["count"]) if "count" in data else 0
        stats = cls(np.asarray(mean, np.float64), np.asarray(covariance, np.float64), count)
        check_statistics(stats, os.fspath(path))
        return stats


def check_statistics(stats: FeatureStatistics, label: str) -> None:
    """Checks that `stats` can enter FID: finite, a `(d,)` mean, a symmetric positive semi-definite `(d, d)` covariance.

    Positive semi-definiteness is tested by a Cholesky factorization of `Σ + δ·I` with `δ = d · 1e-10 ·
    max diag(Σ)`: round-off in a rank-deficient covariance passes, a matrix with a truly negative eigenvalue
    (which makes `Tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½)` negative or meaningless) does not.

    Args:
        stats: The statistics.
        label: Names them in the message (a file, or "real"/"generated").

    Raises:
        ValueError: On NaN or infinite values, mismatched shapes, an asymmetric or indefinite covariance.

    Example:
        >>> indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
        >>> check_statistics(FeatureStatistics(np.zeros(2), indefinite, 5), "s.npz")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: The statistics of s.npz have a covariance that is not positive semi-definite: its smallest ...
    """
    mean, covariance = stats.mean, stats.covariance
    if mean.ndim != 1 or covariance.shape != (len(mean), len(mean)):
        raise ValueError(f"The statistics of {label} have a mean of shape {mean.shape} and a covariance of shape "
                         f"{covariance.shape}; expected (d,) and (d, d).")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(covariance))):
        raise ValueError(f"The statistics of {label} hold NaN or infinite values: FID is undefined. (Features that "
                         "overflow, a classifier that diverged, or a damaged file.)")
    scale = float(np.max(np.abs(np.diag(covariance)), initial=0.0))
    if float(np.max(np.abs(covariance - covariance.T), initial=0.0)) > 1e-8 * max(scale, 1e-300):
        raise ValueError(f"The statistics of {label} have a covariance that is not symmetric.")
    shift = len(mean) * 1e-10 * max(scale, 1e-300)
    try:
        np.linalg.cholesky(covariance + shift * np.eye(len(mean)))
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(covariance)[0])
        raise ValueError(
            f"The statistics of {label} have a covariance that is not positive semi-definite: its smallest "
            f"eigenvalue is {smallest:.3g} (largest variance {scale:.3g}). FID would be wrong (possibly negative)."
        ) from None


def fingerprint_array(array) -> str:
    """SHA-256 of an array's dtype, shape and bytes: identifies a real set held in memory.

    Example:
        >>> fingerprint_array(np.zeros(3)) == fingerprint_array(np.zeros(3)) != fingerprint_array(np.ones(3))
        True
    """
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def fingerprint_path(path: str | os.PathLike, *details: object) -> str:
    """SHA-256 of a file's bytes, or of a folder's relative file names and bytes, and of `details`.

    Reading the bytes costs far less than passing the images through a classifier, and it tells apart two
    sets that share a name (`--dataset`) or a path (a file rewritten in place).

    Args:
        path: A file or folder.
        *details: What else selects the images (the array key, a limit); their `repr` is hashed.

    Example:
        >>> fingerprint_path(__file__) == fingerprint_path(__file__) != fingerprint_path(__file__, "x_test")
        True
    """
    path = os.fspath(path)
    digest = hashlib.sha256(repr(details).encode())
    files = [path] if not os.path.isdir(path) else [
        os.path.join(root, name) for root, _, names in sorted(os.walk(path)) for name in sorted(names)
    ]
    for name in files:
        digest.update(os.path.relpath(name, path).encode() + b"\0")
        with open(name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


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


def statistics_cache_path(
    dataset: str, classifier_name: str, cache_dir: str | os.PathLike | None = None, fingerprint: str | None = None
) -> str:
    """Cache file of the reference statistics of `dataset` under the classifier `classifier_name`.

    Args:
        dataset: The name of the real set.
        classifier_name: `Classifier.name` (content-derived for models loaded from files).
        cache_dir: Cache folder; default `default_cache_dir()`.
        fingerprint: Identifies the real images themselves (`fingerprint_path`, `fingerprint_array`); its
            first 16 hex digits join the file name, so that another set under the same name is a miss.

    Example:
        >>> os.path.basename(statistics_cache_path("mnist/test", "tfgan-inception-1", "/tmp"))
        'mnist-test__tfgan-inception-1.npz'
        >>> os.path.basename(statistics_cache_path("mnist/test", "tfgan-inception-1", "/tmp", "0123456789abcdef99"))
        'mnist-test__tfgan-inception-1__0123456789abcdef.npz'
    """
    folder = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    suffix = f"__{fingerprint[:16]}" if fingerprint else ""
    return os.path.join(folder, f"{_slug(dataset)}__{_slug(classifier_name)}{suffix}.npz")


def save_statistics(path: str, stats: FeatureStatistics, **metadata: str) -> None:
    """Writes `stats` to `path` (creating its folder) atomically: a killed run leaves no half-written cache."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    write_atomically(path, lambda handle: stats.save(handle, **metadata))  # a link planted at `path` is replaced


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
