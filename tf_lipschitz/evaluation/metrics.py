"""Inception Score, Fréchet Inception Distance and Kernel Inception Distance, computed the TF-GAN way.

Images stream through the classifier in batches (see `images.py` for the accepted value ranges); what is
kept per set is small: the logits of one Inception Score split, FID's running mean and covariance, and, for
KID only, the pooled features (`4·d` bytes per image). The Inception Score and KID come from TF-GAN's
`classifier_metrics` (loaded by `tfgan_compat`), FID from TF-GAN's formula in NumPy (`trace_sqrt_product`),
so numbers match those computed with TF-GAN.

Reference:
    Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016 (Inception Score).
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017 (FID).
    Bińkowski et al., "Demystifying MMD GANs", ICLR 2018 (KID).
"""

from __future__ import annotations

import os
import shutil
from typing import Callable, Iterable, Sequence

import numpy as np
import tensorflow as tf

from tf_lipschitz.foundations.optional import require
from tf_lipschitz.evaluation import tfgan_compat
from tf_lipschitz.evaluation.classifiers import Classifier, load_classifier
from tf_lipschitz.evaluation.images import iter_batches, num_images
from tf_lipschitz.evaluation.settings import DEFAULT_BATCH_SIZE, EVALUATE_METRICS
from tf_lipschitz.evaluation.statistics import (
    FeatureStatistics,
    RunningMoments,
    check_statistics,
    fingerprint_array,
    load_or_compute,
    save_statistics,
    statistics_cache_path,
)

tqdm = require("tqdm.auto", extra="eval").tqdm

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "split_bounds",
    "inception_score_from_logits",
    "trace_sqrt_product",
    "frechet_distance",
    "compute_activations",
    "compute_statistics",
    "reference_statistics",
    "inception_score",
    "frechet_inception_distance",
    "kernel_inception_distance",
    "kid_from_features",
    "evaluate",
    "EVALUATE_METRICS",
]

Consumer = Callable[[np.ndarray, np.ndarray], None]
_FID_TOLERANCE = 1e-9  # relative to |μ1 - μ2|² + Tr Σ1 + Tr Σ2: what round-off in float64 can cost


def split_bounds(count: int, num_splits: int) -> list[tuple[int, int]]:
    """`[start, end)` of each Inception Score split: `i·N // s` to `(i+1)·N // s`, as the IS papers' code.

    Args:
        count: Number of images N.
        num_splits: Number of splits s.

    Returns:
        s index pairs covering `range(N)`.

    Raises:
        ValueError: If `num_splits` < 1 or N < `num_splits`.

    Example:
        >>> split_bounds(10, 3)
        [(0, 3), (3, 6), (6, 10)]
    """
    if num_splits < 1:
        raise ValueError(f"`num_splits` must be >= 1. Received: num_splits={num_splits}")
    if count < num_splits:
        raise ValueError(f"The Inception Score needs at least `num_splits`={num_splits} images. Received: {count}")
    return [(i * count // num_splits, (i + 1) * count // num_splits) for i in range(num_splits)]


def _split_score(logits: np.ndarray) -> float:
    return float(tfgan_compat.classifier_score_from_logits(tf.constant(logits, tf.float64)))


def inception_score_from_logits(logits, num_splits: int = 10) -> tuple[float, float]:
    """Inception Score of precomputed logits: mean and standard deviation over `num_splits` splits.

    On each split, `IS = exp(E_x KL(p(y|x) || p(y)))` with `p(y)` the split's mean prediction (TF-GAN's
    `classifier_score_from_logits`); the mean and (population) standard deviation over splits are what
    the WGAN-GP and ALP papers report.

    Args:
        logits: `(N, num_classes)` classifier logits.
        num_splits: Number of contiguous splits.

    Returns:
        `(mean, std)` over splits.

    Raises:
        ValueError: If there are fewer images than splits.

    Example:
        >>> inception_score_from_logits(np.eye(4) * 50.0, num_splits=1)[0]  # doctest: +ELLIPSIS
        4.0...

    Reference:
        Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016.
    """
    logits = np.asarray(logits, dtype=np.float64)
    scores = [_split_score(logits[start:end]) for start, end in split_bounds(len(logits), num_splits)]
    return float(np.mean(scores)), float(np.std(scores))


def trace_sqrt_product(sigma1, sigma2) -> float:
    """`Tr((Σ1 Σ2)^(1/2)) = Tr((√Σ1 Σ2 √Σ1)^(1/2))` for symmetric positive semi-definite `Σ1`, `Σ2`.

    With `Σ1 = V diag(w) Vᵀ` (`eigh`), the non-zero eigenvalues of `√Σ1 Σ2 √Σ1` are those of the small
    symmetric `Uᵀ Σ2 U`, `U = V_k diag(√w_k)` over the k eigenvalues above round-off (`w > d·ε·max w`, the
    rank rule of `numpy.linalg.matrix_rank`); so a covariance of n < d samples costs one `eigh` of `Σ1`.

    Args:
        sigma1: `(d, d)` covariance.
        sigma2: `(d, d)` covariance.

    Returns:
        The trace, a float (negative eigenvalues, round-off, count as zero).

    Example:
        >>> round(trace_sqrt_product(np.diag([4.0, 1.0]), np.diag([1.0, 9.0])), 6)
        5.0
    """
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    eigenvalues, vectors = np.linalg.eigh(sigma1)
    keep = eigenvalues > len(eigenvalues) * np.finfo(np.float64).eps * max(eigenvalues.max(initial=0.0), 0.0)
    u = vectors[:, keep] * np.sqrt(eigenvalues[keep])
    small = u.T @ sigma2 @ u
    return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((small + small.T) / 2), 0.0, None))))


def frechet_distance(
    stats1: FeatureStatistics, stats2: FeatureStatistics, labels: tuple[str, str] = ("real", "generated")
) -> float:
    """Fréchet distance of two Gaussians: `|μ1 - μ2|² + Tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^(1/2))`.

    `Tr((Σ1 Σ2)^(1/2))` is TF-GAN's `Tr((√Σ1 Σ2 √Σ1)^(1/2))`, computed by `trace_sqrt_product` in float64
    NumPy (symmetric eigendecompositions): the same value without TF-GAN, and faster on 2048-d features
    than its two SVDs.

    Both sets' statistics are checked first (`check_statistics`: finite, symmetric, positive
    semi-definite), and a result below zero by more than round-off is refused; round-off below zero
    is returned as 0, so the distance is never negative.

    Args:
        stats1: Statistics of the first (usually real) set.
        stats2: Statistics of the second set.
        labels: Names of the two sets in error messages.

    Returns:
        The distance, a float >= 0.

    Raises:
        ValueError: If the feature dimensions differ, a set's statistics hold NaN or infinite values, or a
            covariance is not symmetric positive semi-definite.

    Example:
        >>> a = FeatureStatistics(np.zeros(2), np.eye(2), 10)
        >>> round(frechet_distance(a, FeatureStatistics(np.ones(2), np.eye(2), 10)), 6)
        2.0

    Reference:
        Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
        Equilibrium", NeurIPS 2017.
    """
    if stats1.mean.shape != stats2.mean.shape:
        raise ValueError(f"Feature dimensions differ: {stats1.mean.shape} and {stats2.mean.shape}.")
    check_statistics(stats1, labels[0])
    check_statistics(stats2, labels[1])
    trace_sqrt = trace_sqrt_product(stats1.covariance, stats2.covariance)
    mean_term = float(np.sum(np.square(stats1.mean - stats2.mean)))
    traces = float(np.trace(stats1.covariance) + np.trace(stats2.covariance))
    fid = mean_term + traces - 2.0 * trace_sqrt
    # For positive semi-definite Σ1, Σ2, Tr((Σ1 Σ2)^½) <= (Tr Σ1 + Tr Σ2) / 2, so FID >= 0 up to round-off.
    if fid < -_FID_TOLERANCE * (mean_term + traces):
        raise ValueError(f"FID came out negative ({fid:.6g}) beyond round-off: the covariances of the "
                         f"{labels[0]} and {labels[1]} sets cannot be trusted.")
    return max(fid, 0.0)


class _SplitScores:
    """Consumer scoring each IS split as soon as its logits are complete, then dropping them."""

    def __init__(self, count: int | None, num_splits: int):
        self.num_splits = num_splits
        self.bounds = split_bounds(count, num_splits) if count is not None else None
        self.pending: list[np.ndarray] = []
        self.scores: list[float] = []
        self.seen = 0  # images before `pending`

    def __call__(self, logits: np.ndarray, _pool: np.ndarray) -> None:
        self.pending.append(logits)
        if self.bounds is None:
            return
        buffered = np.concatenate(self.pending)
        while len(self.scores) < len(self.bounds) and self.bounds[len(self.scores)][1] <= self.seen + len(buffered):
            start, end = (index - self.seen for index in self.bounds[len(self.scores)])
            self.scores.append(_split_score(buffered[start:end]))
            buffered, self.seen = buffered[end:], self.seen + end
        self.pending = [buffered]

    def result(self) -> tuple[float, float]:
        if self.bounds is None:  # size unknown up front: all logits were kept
            return inception_score_from_logits(np.concatenate(self.pending), self.num_splits)
        if len(self.scores) != len(self.bounds) or sum(len(p) for p in self.pending):
            received = self.seen + sum(len(p) for p in self.pending)
            raise ValueError(f"The image set declared {self.bounds[-1][1]} images but yielded {received}.")
        return float(np.mean(self.scores)), float(np.std(self.scores))


def _scan(images, classifier: Classifier, consumers: Sequence[Consumer], *, batch_size: int, verbose: bool, desc: str):
    """Streams `images` through `classifier` in batches, handing `(logits, pool)` to every consumer."""
    # The size from shutil: on a terminal that reports 0×0 (a pty without a window size, as under `docker exec`
    # or `script`), tqdm would compute -1 rows and print nothing at all; shutil falls back to 80×24.
    size = shutil.get_terminal_size()
    bar = tqdm(total=num_images(images), desc=desc, unit="img", disable=not verbose, ncols=size.columns,
               nrows=size.lines)
    with bar:
        bar.set_postfix_str("first batch: building the network", refresh=True)  # tracing can take minutes
        for batch in iter_batches(images, batch_size):
            logits, pool = classifier(batch)
            for consume in consumers:
                consume(logits, pool)
            if not bar.n:
                bar.set_postfix_str("", refresh=False)
            bar.update(len(batch))


def compute_activations(
    images, *, classifier_fn=None, batch_size: int = DEFAULT_BATCH_SIZE, verbose: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and pooled features of every image (kept in memory: use for moderate sets).

    Args:
        images: Images as accepted by `iter_batches` (uint8 in [0, 255] or float in [-1, 1]).
        classifier_fn: See `load_classifier`; `None` is the standard Inception (`default_classifier`).
        batch_size: Images per classifier call.
        verbose: Shows a progress bar.

    Returns:
        `(logits, pool)`, float32 arrays with one row per image.

    Example:
        >>> logits, pool = compute_activations(images, classifier_fn=model)  # doctest: +SKIP
    """
    classifier = load_classifier(classifier_fn)
    logits, pool = [], []
    keep = [lambda l, p: (logits.append(l), pool.append(p))]
    _scan(images, classifier, keep, batch_size=batch_size, verbose=verbose, desc="activations")
    return np.concatenate(logits), np.concatenate(pool)


def compute_statistics(
    images, *, classifier_fn=None, batch_size: int = DEFAULT_BATCH_SIZE, verbose: bool = True
) -> FeatureStatistics:
    """Mean and covariance of the pooled features of a set, streamed in batches.

    Args:
        images: Images as accepted by `iter_batches`.
        classifier_fn: See `load_classifier`; `None` is the standard Inception (`default_classifier`).
        batch_size: Images per classifier call.
        verbose: Shows a progress bar.

    Returns:
        `FeatureStatistics`.

    Raises:
        ValueError: With fewer than 2 images or images in no accepted range.

    Example:
        >>> stats = compute_statistics(real_images, classifier_fn="inception/")  # doctest: +SKIP
    """
    classifier = load_classifier(classifier_fn)
    moments = RunningMoments()
    update = [lambda _l, p: moments.update(p)]
    _scan(images, classifier, update, batch_size=batch_size, verbose=verbose, desc="statistics")
    return moments.result()


def reference_statistics(
    images,
    *,
    dataset: str,
    classifier_fn=None,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    verbose: bool = True,
    fingerprint: str | None = None,
) -> FeatureStatistics:
    """Statistics of a real data set, computed once and then read from the cache (`statistics_cache_path`).

    Args:
        images: The real images, or a zero-argument callable returning them (called only on a cache miss,
            so a cached data set is never loaded).
        dataset: Name of the data set and split, e.g. `"cifar10/train"`; part of the cache key.
        classifier_fn: See `load_classifier`; its `name` (content-derived for a model read from a file or
            a Keras model) is part of the cache key.
        cache_dir: Cache folder; default `default_cache_dir()`.
        batch_size: Images per classifier call.
        verbose: Shows a progress bar.
        fingerprint: Identifies the images in the cache key (`fingerprint_path` of their file); default
            the hash of `images` when it is an array. A callable without a fingerprint is keyed by
            `dataset` alone: it must always return the same set.

    Returns:
        `FeatureStatistics`.

    Example:
        >>> stats = reference_statistics(lambda: load_cifar10(), dataset="cifar10/train")  # doctest: +SKIP
    """
    classifier = load_classifier(classifier_fn)
    path = statistics_cache_path(dataset, classifier.name, cache_dir, _images_fingerprint(images, fingerprint))

    def compute() -> FeatureStatistics:
        real = images() if callable(images) else images
        return compute_statistics(real, classifier_fn=classifier, batch_size=batch_size, verbose=verbose)

    return load_or_compute(path, compute, dataset=dataset, classifier=classifier.name)


def _images_fingerprint(images, fingerprint: str | None) -> str | None:
    if fingerprint is not None:
        return fingerprint
    return fingerprint_array(images) if isinstance(images, np.ndarray) else None


def inception_score(
    images,
    *,
    classifier_fn=None,
    num_splits: int = 10,
    batch_size: int = DEFAULT_BATCH_SIZE,
    verbose: bool = True,
) -> tuple[float, float]:
    """Inception Score of a set of images: mean and standard deviation over `num_splits` splits.

    Each split scores `exp(E_x KL(p(y|x) || p(y)))` with TF-GAN's `classifier_score_from_logits`; splits are
    contiguous (`split_bounds`) and scored as soon as their logits are complete, so memory stays bounded
    by a batch plus a split. Results do not depend on `batch_size`.

    Args:
        images: uint8 in [0, 255] or float in [-1, 1], `(N, H, W[, C])`; an array, an `ImageFolder` or an
            iterable of batches. Grayscale is expanded to RGB and images are resized to the classifier input.
        classifier_fn: See `load_classifier`; `None` is TF-GAN's Inception from TF-Hub (the prepared FID
            network has no logits).
        num_splits: Number of splits (10 in the papers, with 50,000 images).
        batch_size: Images per classifier call.
        verbose: Shows a progress bar.

    Returns:
        `(mean, std)`.

    Raises:
        ValueError: If images are in no accepted value range or fewer than `num_splits`.
        RuntimeError: If TF-GAN's Inception cannot be loaded (offline): pass a local model with logits.

    Example:
        >>> mean, std = inception_score(samples)  # doctest: +SKIP

    Reference:
        Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016.
    """
    classifier = load_classifier(classifier_fn, needs_logits=True)
    splits = _SplitScores(num_images(images), num_splits)
    _scan(images, classifier, [splits], batch_size=batch_size, verbose=verbose, desc="inception score")
    return splits.result()


def _statistics_of(images_or_stats, classifier: Classifier, batch_size: int, verbose: bool) -> FeatureStatistics:
    if isinstance(images_or_stats, FeatureStatistics):
        return images_or_stats
    return compute_statistics(images_or_stats, classifier_fn=classifier, batch_size=batch_size, verbose=verbose)


def frechet_inception_distance(
    real,
    fake,
    *,
    classifier_fn=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dataset: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    verbose: bool = True,
) -> float:
    """Fréchet Inception Distance between a real and a generated set.

    `|μ_r - μ_g|² + Tr(Σ_r + Σ_g - 2 (Σ_r Σ_g)^(1/2))` on the pooled features, with unbiased covariances
    streamed in batches (TF-GAN's formula and matrix square root). FID is biased for small sets: compare
    models only at equal sample sizes.

    Args:
        real: Real images, or their `FeatureStatistics`.
        fake: Generated images, or their `FeatureStatistics`.
        classifier_fn: See `load_classifier`; `None` is the standard Inception (`default_classifier`:
            the network prepared by `tf-lipschitz fetch-inception`, else TF-GAN's from TF-Hub).
        batch_size: Images per classifier call.
        dataset: When given, the real statistics are cached under this name and the classifier's
            (see `reference_statistics`).
        cache_dir: Cache folder for `dataset`.
        verbose: Shows progress bars.

    Returns:
        The FID, a float.

    Raises:
        ValueError: If images are in no accepted value range, or a set has fewer than 2 images.
        RuntimeError: If the default Inception cannot be loaded: the message names `tf-lipschitz fetch-inception`.

    Example:
        >>> fid = frechet_inception_distance(x_test, samples, classifier_fn="inception/")  # doctest: +SKIP

    Reference:
        Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
        Equilibrium", NeurIPS 2017.
    """
    classifier = load_classifier(classifier_fn)
    if dataset is not None and not isinstance(real, FeatureStatistics):
        real = reference_statistics(
            real, dataset=dataset, classifier_fn=classifier, cache_dir=cache_dir, batch_size=batch_size, verbose=verbose
        )
    real_stats = _statistics_of(real, classifier, batch_size, verbose)
    return frechet_distance(real_stats, _statistics_of(fake, classifier, batch_size, verbose))


def kernel_inception_distance(
    real,
    fake,
    *,
    classifier_fn=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_block_size: int = 1024,
    verbose: bool = True,
) -> tuple[float, float]:
    """Kernel Inception Distance between a real and a generated set, with its standard error.

    The unbiased squared MMD with kernel `k(x, y) = (xᵀy / d + 1)³` on pooled features, averaged over
    blocks of at most `max_block_size` images (TF-GAN's `kernel_classifier_distance_and_std_from_activations`).
    KID keeps the features of both sets in memory (`4·d` bytes per image). The blocks assume both sets
    are in random order. With a single block the standard error is NaN.

    Args:
        real: Real images.
        fake: Generated images.
        classifier_fn: See `load_classifier`; `None` is the standard Inception (`default_classifier`:
            the network prepared by `tf-lipschitz fetch-inception`, else TF-GAN's from TF-Hub).
        batch_size: Images per classifier call.
        max_block_size: Largest block of the estimator.
        verbose: Shows progress bars.

    Returns:
        `(kid, standard_error)`.

    Raises:
        ValueError: If images are in no accepted value range.
        RuntimeError: If the default Inception cannot be loaded: the message names `tf-lipschitz fetch-inception`.

    Example:
        >>> kid, kid_std = kernel_inception_distance(x_test, samples)  # doctest: +SKIP

    Reference:
        Bińkowski et al., "Demystifying MMD GANs", ICLR 2018.
    """
    classifier = load_classifier(classifier_fn)
    _, real_pool = compute_activations(real, classifier_fn=classifier, batch_size=batch_size, verbose=verbose)
    _, fake_pool = compute_activations(fake, classifier_fn=classifier, batch_size=batch_size, verbose=verbose)
    return kid_from_features(real_pool, fake_pool, max_block_size=max_block_size)


def kid_from_features(real_features, fake_features, *, max_block_size: int = 1024) -> tuple[float, float]:
    """KID and its standard error from precomputed features, in float64 (TF-GAN's block estimator).

    Args:
        real_features: `(m, d)` features of the real set, m >= 2.
        fake_features: `(n, d)` features of the generated set, n >= 2.
        max_block_size: Largest block of the estimator.

    Returns:
        `(kid, standard_error)`; the standard error is NaN with a single block.

    Raises:
        ValueError: If a set has fewer than 2 images (the unbiased MMD averages over pairs of distinct
            images), features are not finite, or their dimensions differ.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> kid, _ = kid_from_features(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)))
        >>> abs(kid) < 0.5
        True
    """
    real_features, fake_features = (np.asarray(f, np.float64) for f in (real_features, fake_features))
    for label, features in (("real", real_features), ("generated", fake_features)):
        if features.ndim != 2 or len(features) < 2:
            raise ValueError(f"KID needs at least 2 images per set (its unbiased estimate averages over distinct "
                             f"pairs). Received: {len(features) if features.ndim else 0} {label} image(s).")
        if not np.all(np.isfinite(features)):
            raise ValueError(f"The {label} features hold NaN or infinite values: KID is undefined.")
    if real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(f"Feature dimensions differ: {real_features.shape[1]} and {fake_features.shape[1]}.")
    kid, std = tfgan_compat.kernel_classifier_distance_and_std_from_activations(
        tf.constant(real_features, tf.float64),
        tf.constant(fake_features, tf.float64),
        max_block_size=max_block_size,
        dtype=tf.float64,
    )
    return float(kid), float(std)


def evaluate(
    real,
    fake,
    *,
    classifier_fn=None,
    metrics: Iterable[str] = ("inception_score", "fid", "kid"),
    num_splits: int = 10,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_block_size: int = 1024,
    dataset: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    verbose: bool = True,
    real_fingerprint: str | None = None,
) -> dict[str, float]:
    """IS, FID and KID of a generated set against a real one, reading each set through the classifier once.

    Args:
        real: Real images, a zero-argument callable returning them (called only if the real set must be
            read), or their `FeatureStatistics` (FID only); `None` when only the fake set's Inception Score
            is asked for.
        fake: Generated images.
        classifier_fn: See `load_classifier`; `None` is the standard Inception (`default_classifier`:
            the network prepared by `tf-lipschitz fetch-inception`, else TF-GAN's from TF-Hub).
        metrics: Any of `EVALUATE_METRICS`: `inception_score` (of `fake`), `inception_score_real`, `fid`, `kid`.
        num_splits: Inception Score splits.
        batch_size: Images per classifier call.
        max_block_size: KID block size.
        dataset: When given, FID's real statistics are read from, or else saved to, the cache
            (see `reference_statistics`); with a cache hit and no `kid`/`inception_score_real`, the real
            set is not read at all.
        cache_dir: Cache folder for `dataset`.
        verbose: Shows progress bars.
        real_fingerprint: Identifies the real images in the cache key (see `reference_statistics`);
            default the hash of `real` when it is an array.

    Returns:
        A dict with, as asked, `inception_score`, `inception_score_std`, `inception_score_real`,
        `inception_score_real_std`, `fid`, `kid`, `kid_std`.

    Raises:
        ValueError: For an unknown metric name, missing real images, or images in no accepted value range.
        RuntimeError: If the default Inception cannot be loaded: the message names `tf-lipschitz fetch-inception`.

    Example:
        >>> scores = evaluate(x_test, samples, classifier_fn="inception/")  # doctest: +SKIP
    """
    metrics = _checked_metrics(metrics, real)
    classifier = load_classifier(classifier_fn, needs_logits=any(m.startswith("inception_score") for m in metrics))
    real_stats = real if isinstance(real, FeatureStatistics) else None
    cache_path = None
    if dataset and "fid" in metrics and real_stats is None:
        fingerprint = _images_fingerprint(real, real_fingerprint)
        cache_path = statistics_cache_path(dataset, classifier.name, cache_dir, fingerprint)
    if real_stats is None and cache_path is not None and os.path.exists(cache_path):
        real_stats = FeatureStatistics.load(cache_path)
    real_needs = {"inception_score_real": "splits", "kid": "pool", "fid": None if real_stats else "moments"}
    readers = {
        "fake": _SetReader(fake, {_FAKE_NEEDS[m] for m in metrics} - {None}, num_splits),
        "real": _SetReader(real, {real_needs.get(m) for m in metrics} - {None}, num_splits),
    }
    for label, reader in readers.items():
        if reader.consumers:
            _scan(reader.images, classifier, reader.consumers, batch_size=batch_size, verbose=verbose, desc=label)
    if "fid" in metrics and real_stats is None:
        real_stats = readers["real"].moments.result()
        if cache_path is not None:
            save_statistics(cache_path, real_stats, dataset=dataset, classifier=classifier.name)
    return _collect(metrics, readers, real_stats, max_block_size)


_FAKE_NEEDS = {"inception_score": "splits", "inception_score_real": None, "fid": "moments", "kid": "pool"}


def _checked_metrics(metrics: Iterable[str], real) -> tuple[str, ...]:
    metrics = tuple(metrics)
    unknown = set(metrics) - set(EVALUATE_METRICS)
    if unknown:
        raise ValueError(f"Unknown metrics {sorted(unknown)}; choose among {', '.join(EVALUATE_METRICS)}.")
    if real is None and set(metrics) - {"inception_score"}:
        raise ValueError("FID, KID and the real Inception Score need the real images: pass `real`.")
    if isinstance(real, FeatureStatistics) and set(metrics) & {"kid", "inception_score_real"}:
        raise ValueError("Precomputed statistics only serve FID: pass real images for KID or their Inception Score.")
    return metrics


def _collect(metrics, readers, real_stats, max_block_size: int) -> dict[str, float]:
    results: dict[str, float] = {}
    if "inception_score" in metrics:
        results["inception_score"], results["inception_score_std"] = readers["fake"].splits.result()
    if "inception_score_real" in metrics:
        results["inception_score_real"], results["inception_score_real_std"] = readers["real"].splits.result()
    if "fid" in metrics:
        results["fid"] = frechet_distance(real_stats, readers["fake"].moments.result())
    if "kid" in metrics:
        results["kid"], results["kid_std"] = kid_from_features(
            np.concatenate(readers["real"].pool), np.concatenate(readers["fake"].pool), max_block_size=max_block_size
        )
    return results


class _SetReader:
    """What `evaluate` gathers from one set in its single pass: IS `splits`, FID `moments`, KID `pool`."""

    def __init__(self, images, needs: set[str], num_splits: int):
        self.images = images() if needs and callable(images) else images
        self.consumers: list[Consumer] = []
        self.splits = self.moments = self.pool = None
        if "splits" in needs:
            self.splits = _SplitScores(num_images(self.images), num_splits)
            self.consumers.append(self.splits)
        if "moments" in needs:
            self.moments = RunningMoments()
            self.consumers.append(lambda _l, p: self.moments.update(p))
        if "pool" in needs:
            self.pool = []
            self.consumers.append(lambda _l, p: self.pool.append(p))
