"""`fit` callbacks that score generated samples: `FrechetInceptionDistance` and `InceptionScore`.

Samples come from `model.generate(num_samples, batch_size=batch_size)` (the GAN models' sampler, images in
[-1, 1]) or from an explicit `generator_fn(num_samples)`. The classifier is loaded once, at the start of
training, and, for FID, so are the statistics of the real images.

When they run:

- `every_n_steps=None` (default): at the end of every epoch, into the epoch `logs`.
- `every_n_steps=N`: after every N-th training batch, counted from the start of `fit` across epochs, into
  that batch's `logs` (progress bar); the latest value is also put into every epoch's `logs` (NaN before
  the first evaluation), so that `History` and `CSVLogger` record it.

Put these callbacks before `CSVLogger` in the `callbacks` list: callbacks see the epoch `logs` in list order.
The model must be a `tf_lipschitz.foundations.contracts.Sampler` unless `generator_fn` is given. Scoring needs the
evaluation extra (`pip install "tf-lipschitz[eval]"`), imported when training starts.

Reference:
    Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016 (Inception Score).
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017 (FID).
"""

from __future__ import annotations

import math
import os
from typing import Callable

from tf_lipschitz.callbacks._periodic import PeriodicCallback
from tf_lipschitz.foundations.contracts import Sampler
from tf_lipschitz.foundations.optional import require
from tf_lipschitz.foundations.validation import check_int

__all__ = ["FrechetInceptionDistance", "InceptionScore"]

# Images per generator and classifier call; equal to `tf_lipschitz.evaluation.metrics.DEFAULT_BATCH_SIZE`, which
# is not imported here so that the callbacks need no evaluation extra until they run.
DEFAULT_BATCH_SIZE = 64


def _evaluation():
    """`tf_lipschitz.evaluation`, imported when a metric callback first runs (it needs the `eval` extra)."""
    return require("tf_lipschitz.evaluation", extra="eval")


class _SampleMetric(PeriodicCallback):
    """Shared sampling and classifier loading of the generated-sample metric callbacks."""

    needs_logits = False  # the Inception Score needs class logits; FID only pooled features

    def __init__(
        self,
        *,
        num_samples: int,
        every_n_steps: int | None,
        generator_fn: Callable[[int], object] | None,
        classifier_fn,
        batch_size: int,
        log_key: str,
        verbose: bool,
    ):
        super().__init__(every_n_steps, allow_epoch_end=True)
        self.num_samples = check_int("num_samples", num_samples, minimum=2)
        self.batch_size = check_int("batch_size", batch_size)
        self.generator_fn = generator_fn
        self.classifier_fn = classifier_fn
        self.log_key = log_key
        self.verbose = verbose
        self.classifier = None

    def log_keys(self) -> tuple[str, ...]:
        raise NotImplementedError

    def score(self, samples) -> dict[str, float]:
        raise NotImplementedError

    def check_model(self, model) -> None:
        if self.generator_fn is None and not isinstance(model, Sampler):
            raise ValueError(
                f"{type(self).__name__} needs samples: the model has no `generate(n, batch_size=...)` method "
                "(tf_lipschitz.foundations.contracts.Sampler), so pass `generator_fn=lambda n: images`."
            )

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.classifier is None:
            self.classifier = _evaluation().load_classifier(self.classifier_fn, needs_logits=self.needs_logits)
        self.latest = {key: math.nan for key in self.log_keys()}  # epoch logs hold NaN until the first score

    def samples(self):
        """`num_samples` generated images, from `generator_fn` or `model.generate`."""
        if self.generator_fn is not None:
            return self.generator_fn(self.num_samples)
        return self.model.generate(self.num_samples, batch_size=self.batch_size)

    def measure(self) -> dict[str, float]:
        return self.score(self.samples())

    def evaluate(self) -> dict[str, float]:
        """Scores fresh samples now and remembers the values for the epoch logs."""
        return self.record()


class FrechetInceptionDistance(_SampleMetric):
    """Logs the FID between generated samples and real images during `fit` (key `fid` by default).

    Real statistics are computed once when training starts (or read from the cache when `dataset` is
    given); each evaluation then only runs `num_samples` generated images through the classifier.
    See the module docstring for when it runs and where values are logged.

    Args:
        real: Real images (uint8 in [0, 255] or float in [-1, 1]), a zero-argument callable returning them
            (called once, when training starts and the statistics are not cached), or their
            `FeatureStatistics`.
        num_samples: Generated images per evaluation. FID is biased for small sets: compare runs at the
            same `num_samples` (and a comparable number of real images).
        every_n_steps: Evaluate every N training batches; `None` at every epoch end.
        generator_fn: `fn(n) -> images`; default `model.generate(n, batch_size=batch_size)`.
        classifier_fn: See `tf_lipschitz.evaluation.load_classifier`; `None` is the standard Inception prepared
            by `tf-lipschitz fetch-inception` (else TF-GAN's from TF-Hub).
        batch_size: Images per generator and classifier call.
        dataset: Cache the real statistics under this data set name (see `reference_statistics`).
        cache_dir: Cache folder for `dataset`.
        log_key: Name of the value in `logs`.
        verbose: Shows progress bars while scoring.

    Raises:
        ValueError: If `num_samples` < 2, `every_n_steps` < 1 or `batch_size` < 1; when training starts,
            if the model has no `generate` and no `generator_fn` was given.

    Example:
        >>> fid = FrechetInceptionDistance(x_test, num_samples=1000, every_n_steps=500,
        ...                                classifier_fn="mnist_classifier.keras")  # doctest: +SKIP
        >>> gan.fit(dataset, epochs=10, callbacks=[fid, keras.callbacks.CSVLogger("log.csv")])  # doctest: +SKIP

    Reference:
        Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
        Equilibrium", NeurIPS 2017.
    """

    def __init__(
        self,
        real,
        *,
        num_samples: int = 5000,
        every_n_steps: int | None = None,
        generator_fn: Callable[[int], object] | None = None,
        classifier_fn=None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        dataset: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        log_key: str = "fid",
        verbose: bool = False,
    ):
        super().__init__(num_samples=num_samples, every_n_steps=every_n_steps, generator_fn=generator_fn,
                         classifier_fn=classifier_fn, batch_size=batch_size, log_key=log_key, verbose=verbose)
        self.real = real
        self.dataset = dataset
        self.cache_dir = cache_dir
        self.real_statistics = None  # a `FeatureStatistics`, set when training starts

    def log_keys(self) -> tuple[str, ...]:
        return (self.log_key,)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        evaluation = _evaluation()
        if self.real_statistics is None and isinstance(self.real, evaluation.FeatureStatistics):
            self.real_statistics = self.real
        if self.real_statistics is None:
            options = dict(classifier_fn=self.classifier, batch_size=self.batch_size, verbose=self.verbose)
            if self.dataset is not None:
                self.real_statistics = evaluation.reference_statistics(
                    self.real, dataset=self.dataset, cache_dir=self.cache_dir, **options
                )
            else:
                real = self.real() if callable(self.real) else self.real
                self.real_statistics = evaluation.compute_statistics(real, **options)
        self.real = None  # the statistics are all that is needed from now on

    def score(self, samples) -> dict[str, float]:
        evaluation = _evaluation()
        fake = evaluation.compute_statistics(
            samples, classifier_fn=self.classifier, batch_size=self.batch_size, verbose=self.verbose
        )
        return {self.log_key: evaluation.frechet_distance(self.real_statistics, fake)}


class InceptionScore(_SampleMetric):
    """Logs the Inception Score of generated samples during `fit` (keys `inception_score`, `inception_score_std`).

    See the module docstring for when it runs and where values are logged.

    Args:
        num_samples: Generated images per evaluation (the papers use 50,000 in 10 splits).
        num_splits: Splits for the mean and standard deviation.
        every_n_steps: Evaluate every N training batches; `None` at every epoch end.
        generator_fn: `fn(n) -> images`; default `model.generate(n, batch_size=batch_size)`.
        classifier_fn: See `tf_lipschitz.evaluation.load_classifier`; `None` is TF-GAN's Inception from TF-Hub
            (the prepared FID network has no logits).
        batch_size: Images per generator and classifier call.
        log_key: Name of the mean in `logs`; the standard deviation is `<log_key>_std`.
        verbose: Shows progress bars while scoring.

    Raises:
        ValueError: If `num_samples` < `num_splits` or < 2, `every_n_steps` < 1 or `batch_size` < 1; when
            training starts, if the model has no `generate` and no `generator_fn` was given.

    Example:
        >>> score = InceptionScore(num_samples=5000, every_n_steps=1000)  # doctest: +SKIP
        >>> gan.fit(dataset, epochs=10, callbacks=[score])  # doctest: +SKIP

    Reference:
        Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016.
    """

    needs_logits = True

    def __init__(
        self,
        *,
        num_samples: int = 5000,
        num_splits: int = 10,
        every_n_steps: int | None = None,
        generator_fn: Callable[[int], object] | None = None,
        classifier_fn=None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        log_key: str = "inception_score",
        verbose: bool = False,
    ):
        super().__init__(num_samples=num_samples, every_n_steps=every_n_steps, generator_fn=generator_fn,
                         classifier_fn=classifier_fn, batch_size=batch_size, log_key=log_key, verbose=verbose)
        self.num_splits = check_int("num_splits", num_splits, maximum=self.num_samples)

    def log_keys(self) -> tuple[str, ...]:
        return (self.log_key, f"{self.log_key}_std")

    def score(self, samples) -> dict[str, float]:
        mean, std = _evaluation().inception_score(
            samples,
            classifier_fn=self.classifier,
            num_splits=self.num_splits,
            batch_size=self.batch_size,
            verbose=self.verbose,
        )
        return dict(zip(self.log_keys(), (mean, std)))
