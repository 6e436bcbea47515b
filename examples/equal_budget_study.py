"""Equal-budget study: WGAN-ALP vs WGAN-GP vs SN-GAN on MNIST or Fashion-MNIST, at equal steps and equal time.

Every model is the main command's image set-up (`tf-lipschitz train --dataset mnist`: the DCGAN 32×32 pair of
"How does Lipschitz regularization influence GAN training?", Adam(2e-4, β = (0, 0.9)), critic batch 64):

- WGAN-ALP with the paper's defaults (λ = 100, ε ~ U[0.1, 10], ξ = 10, one power iteration), n_critic 5;
- WGAN-GP (λ = 10), n_critic 5;
- SN-GAN: spectral-normalized critic, non-saturating loss, n_critic 1.

Two budgets per seed:

- **steps**: every model trains `--steps` generator steps;
- **time**: every model gets the wall-clock WGAN-ALP needs for `--steps` steps. Before any training a timing
  pass measures each model's seconds per generator step on this machine (the models alternate, `--timing-rounds`
  rounds of `--timing-steps` steps, the fastest round per model; stored in `<out-dir>/timing.json` and reused by
  reruns, so the plan stays fixed), and model m gets `steps × s_ALP / s_m` steps (rounded).
  The time run continues the model's steps run (its checkpoints are copied; the learning rate is constant, so
  this is the same as one longer run). WGAN-ALP's time run *is* its steps run.

Each run lives in `<out-dir>/<model>-<budget>-seed<k>` (the train command's resumable run directory: args.json,
checkpoints, log.csv, samples/ with a grid per checkpoint) and ends with a `result.json`. Every finished run is
scored with FID on the standard Inception network (2015-12-05 graph, prepared by `tf-lipschitz fetch-inception`)
on `--fid-samples` generated images against as many test images, and with the Fréchet distance on a small
classifier trained on the dataset's own training labels (`evaluation.train_mnist_classifier`; for Fashion-MNIST
it learns the clothing classes). Both real sides are the test images resized to 32×32 as the training data are.
The table (Markdown and CSV) gives model × dataset × budget × seed: generator steps, FID, classifier FD,
training wall-clock, seconds per step and the last sample grid.

    python examples/equal_budget_study.py --dataset mnist --data-file ../shared/data/mnist/mnist.npz
    python examples/equal_budget_study.py --dataset fashion_mnist \\
        --data-file ../shared/data/fashion_mnist/fashion_mnist.npz

Rerunning resumes unfinished runs and skips finished ones (their `result.json`); `--quick` is a small preset
that checks the whole pipeline in minutes (its numbers are no results). The expected duration is printed at the
start; the defaults take about two hours of two idle CPU cores per dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from typing import Callable, NamedTuple

MODELS = {"wgan-alp": 5, "wgan-gp": 5, "sn": 1}  # model → n_critic
REFERENCE = "wgan-alp"  # the model whose wall-clock sets the time budget
BUDGETS = ("steps", "time")
DATASETS = ("mnist", "fashion_mnist")
# Presets; a flag given on the command line wins over its preset's value.
PRESETS = {
    "default": {"steps": 2500, "checkpoint_every": 250, "fid_samples": 5000, "seeds": [0, 1], "width": 16,
                "classifier_epochs": 3, "timing_steps": 20, "timing_rounds": 5},
    "quick": {"steps": 100, "checkpoint_every": 50, "fid_samples": 500, "seeds": [0], "width": 16,
              "classifier_epochs": 1, "timing_steps": 5, "timing_rounds": 2},
}
# Pace of the standard Inception network on two idle CPU cores, 32×32 images resized to 299×299, batch 64
# (the `fid` branch's port; 7.7 images/s and less under load): the duration estimate's FID term.
INCEPTION_IMAGES_PER_SECOND = 15.0
RESULT_FIELDS = ("dataset", "model", "budget", "seed", "n_critic", "steps", "fid", "classifier_fd", "seconds",
                 "seconds_per_step", "run_dir", "grid")


class Run(NamedTuple):
    """One training run of the study."""

    model: str
    budget: str
    seed: int
    steps: int
    run_dir: str
    source_dir: str | None  # the steps run a time run continues (None: trains from scratch)


def parse_args(argv=None) -> argparse.Namespace:
    """The study's arguments with the preset's values filled in for flags not given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, default="mnist")
    parser.add_argument("--data-file", required=True, help=".npz in the keras.datasets layout (with labels)")
    parser.add_argument("--out-dir", help="study folder (default: runs/equal_budget/<dataset>[-quick])")
    parser.add_argument("--quick", action="store_true", help="small preset: checks the pipeline, not a result")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    parser.add_argument("--budgets", default=",".join(BUDGETS), help="comma-separated subset of steps,time")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1; quick: 0)")
    parser.add_argument("--steps", type=int, help="generator steps of the equal-steps budget (default 2500)")
    parser.add_argument("--checkpoint-every", type=int, help="checkpoint and sample-grid interval (default 250)")
    parser.add_argument("--width", type=int, help="base width of the DCGAN nets (default 16, as the command)")
    parser.add_argument("--batch-size", type=int, default=64, help="critic batch")
    parser.add_argument("--fid-samples", type=int, help="generated and test images per FID (default 5000)")
    parser.add_argument("--classifier-epochs", type=int, help="epochs of the domain classifier (default 3)")
    parser.add_argument("--timing-steps", type=int, help="steps per model and round of the timing pass")
    parser.add_argument("--timing-rounds", type=int, help="rounds of the timing pass")
    parser.add_argument("--no-floor", action="store_true", help="skip the real-vs-real row (train vs test)")
    parser.add_argument("--fetch-inception", action="store_true",
                        help="prepare the standard Inception network first (`tf-lipschitz fetch-inception`)")
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = parser.parse_args(argv)
    for key, value in PRESETS["quick" if args.quick else "default"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.out_dir is None:
        args.out_dir = os.path.join("runs", "equal_budget", args.dataset + ("-quick" if args.quick else ""))
    args.models = _subset("--models", args.models, MODELS)
    args.budgets = _subset("--budgets", args.budgets, BUDGETS)
    if "time" in args.budgets and REFERENCE not in args.models:
        parser.error(f"the time budget is set by {REFERENCE}: add it to --models or pass --budgets steps")
    return args


def _subset(flag: str, text: str, valid) -> list[str]:
    chosen = [item for item in text.split(",") if item]
    unknown = [item for item in chosen if item not in valid]
    if unknown or not chosen:
        raise SystemExit(f"{flag} must be a comma-separated subset of {','.join(valid)}. Received: {flag}={text}")
    return [item for item in valid if item in chosen]


def estimate_seconds(args: argparse.Namespace) -> float:
    """The expected duration of the whole study: training, FID, the timing pass and start-up.

    Training: WGAN-ALP's expected pace at these settings (`commands.train.expected_seconds`, measured on two idle
    cores) per steps run; under the time budget every other model trains, in total, as long as WGAN-ALP did, and
    under the steps budget it trains for its share of that (estimated with the n_critic ratio).
    FID: every run's generated set plus the test set (and the training set for the floor) through the Inception
    network at `INCEPTION_IMAGES_PER_SECOND`.
    """
    from tf_lipschitz.commands.train import STARTUP_SECONDS, expected_seconds

    def pace(model: str, steps: int) -> float:
        config = {"dataset": args.dataset, "steps": steps, "batch_size": args.batch_size,
                  "n_critic": MODELS[model], "width": args.width}
        return expected_seconds(config) - STARTUP_SECONDS

    alp = pace(REFERENCE, args.steps)
    per_seed = 0.0
    for model in args.models:
        own = alp if model == REFERENCE else pace(model, args.steps)
        per_seed += alp if "time" in args.budgets and model != REFERENCE else own
        per_seed += 2 * STARTUP_SECONDS
    scored = len(plan_names(args))
    images = (scored + 1 + (not args.no_floor)) * args.fid_samples
    timing = sum(pace(m, args.timing_steps * args.timing_rounds) + STARTUP_SECONDS for m in args.models)
    return len(args.seeds) * per_seed + images / INCEPTION_IMAGES_PER_SECOND + timing + 120


def plan_names(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """(model, budget, seed) of every run that trains: WGAN-ALP has one run serving both budgets."""
    return [(model, budget, seed) for seed in args.seeds for budget in args.budgets for model in args.models
            if not (budget == "time" and model == REFERENCE and "steps" in args.budgets)]


def run_dir(args: argparse.Namespace, model: str, budget: str, seed: int) -> str:
    """`<out-dir>/<model>-<budget>-seed<k>`; WGAN-ALP's time run is its steps run."""
    if model == REFERENCE:
        budget = "steps"
    return os.path.join(args.out_dir, f"{model}-{budget}-seed{seed}")


def time_budget_steps(steps: int, seconds_per_step: dict, model: str) -> int:
    """Generator steps giving `model` the wall-clock of `steps` WGAN-ALP steps (at least `steps`).

    Example:
        >>> time_budget_steps(100, {"wgan-alp": 0.3, "sn": 0.07}, "sn")
        429
    """
    return max(steps, round(steps * seconds_per_step[REFERENCE] / seconds_per_step[model]))


def train_args(args: argparse.Namespace, model: str, seed: int, steps: int, directory: str, *,
               n_critic: int | None = None, extra: tuple[str, ...] = ()) -> argparse.Namespace:
    """The `tf-lipschitz train` arguments of one run (n_critic: the model's, unless given; `extra`: more flags)."""
    from tf_lipschitz.commands.cli import build_parser

    return build_parser().parse_args([
        "train", "--dataset", args.dataset, "--data-dir", args.data_file, "--model", model, "--steps", str(steps),
        "--checkpoint-every", str(args.checkpoint_every), "--width", str(args.width), "--n-critic",
        str(n_critic or MODELS[model]), "--batch-size", str(args.batch_size), "--run-dir", directory, "--seed",
        str(seed), *extra,
    ])


def time_in_alternation(setups: dict, steps: int, rounds: int, path: str) -> tuple[dict, dict]:
    """Seconds per generator step of compiled GANs, trained in alternation: the fastest round of each.

    Args:
        setups: name → (compiled GAN, its dataset).
        steps: Generator steps per round (after one tracing call of two steps each).
        rounds: Rounds; in each, every GAN trains `steps` steps in turn, so load from other processes (which only
            ever slows a round down) is spread over all of them.
        path: JSON file written with the result (`seconds_per_step`, `rounds`, `timing_steps`).

    Returns:
        (name → seconds per step of the fastest round, name → every round's seconds per step).
    """
    for gan, dataset in setups.values():  # traces the train step
        gan.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    times: dict = {name: [] for name in setups}
    for _ in range(rounds):
        for name, (gan, dataset) in setups.items():
            start = time.perf_counter()
            gan.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / steps)
    pace = {name: min(values) for name, values in times.items()}
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as handle:
        json.dump({"seconds_per_step": pace, "rounds": times, "timing_steps": steps}, handle, indent=2)
    return pace, times


def measure_seconds_per_step(args: argparse.Namespace) -> dict:
    """Seconds per generator step of every model on this machine, or the ones an earlier run stored.

    The models are built as the runs build them and trained in alternation (after one tracing call each),
    `timing_rounds` rounds of `timing_steps` steps; the fastest round of each model gives its pace (load from
    other processes only ever slows a round down, and alternating spreads it over the models). Stored in
    `<out-dir>/timing.json`.
    """
    path = os.path.join(args.out_dir, "timing.json")
    if os.path.exists(path):
        with open(path) as handle:
            stored = json.load(handle)
        if set(args.models) <= set(stored["seconds_per_step"]):
            return stored["seconds_per_step"]
    from tf_lipschitz.commands.train import settings
    from tf_lipschitz.commands.train_job import build

    parsed = {model: train_args(args, model, 0, args.timing_steps, os.path.join(args.out_dir, "timing"))
              for model in args.models}
    setups = {model: build(parsed[model], settings(parsed[model]), report=lambda line: None) for model in args.models}
    pace, _ = time_in_alternation({model: (setup.gan, setup.dataset) for model, setup in setups.items()},
                                  args.timing_steps, args.timing_rounds, path)
    return pace


def plan(args: argparse.Namespace, seconds_per_step: dict | None) -> list[Run]:
    """Every run of the study in training order: the steps runs of a seed, then its time runs."""
    runs = []
    for model, budget, seed in plan_names(args):
        directory = run_dir(args, model, budget, seed)
        if budget == "steps" or model == REFERENCE:
            runs.append(Run(model, budget, seed, args.steps, directory, None))
        else:
            steps = time_budget_steps(args.steps, seconds_per_step, model)
            source = run_dir(args, model, "steps", seed) if "steps" in args.budgets else None
            runs.append(Run(model, budget, seed, steps, directory, source))
    return runs


def _read_seconds(directory: str) -> float:
    path = os.path.join(directory, "wall_clock.json")
    if not os.path.exists(path):
        return 0.0
    with open(path) as handle:
        return json.load(handle)["seconds"]


def train(args: argparse.Namespace, run: Run):
    """Trains (or resumes) one run in its directory; returns the compiled GAN and its training seconds.

    A time run starts from its steps run's checkpoints and log (copied once), and its seconds include the
    steps run's.
    """
    from tf_lipschitz.commands.train import prepare_run_dir, settings
    from tf_lipschitz.commands.train_job import build
    from tf_lipschitz.training import train_run

    parsed = train_args(args, run.model, run.seed, run.steps, run.run_dir)
    config = settings(parsed)
    try:
        prepare_run_dir(config)  # records the arguments; refuses a directory holding another run
    except ValueError as err:
        raise SystemExit(f"{err}\nFor the study: pass another --out-dir, or remove {run.run_dir}.") from err
    seconds = _read_seconds(run.run_dir)
    if run.source_dir is not None and not os.path.exists(os.path.join(run.run_dir, "wall_clock.json")):
        for name in ("checkpoints", "samples"):
            target = os.path.join(run.run_dir, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            shutil.copytree(os.path.join(run.source_dir, name), target)
        shutil.copy(os.path.join(run.source_dir, "log.csv"), os.path.join(run.run_dir, "log.csv"))
        seconds = _read_seconds(run.source_dir)
        _write_seconds(run.run_dir, seconds)
    setup = build(parsed, config, report=lambda line: None)
    clock = wall_clock(run.run_dir, seconds)
    done = train_run(setup.gan, setup.dataset, run_dir=run.run_dir, steps=run.steps,
                     checkpoint_every=args.checkpoint_every, callbacks=[*setup.callbacks, clock], verbose=args.verbose)
    if done["start_step"] < run.steps:  # a finished run only restored: no training time to add
        seconds = clock.seconds
    return setup.gan, seconds


def wall_clock(directory: str, seconds_before: float, clock: Callable[[], float] = time.perf_counter):
    """A Keras callback keeping `<directory>/wall_clock.json` = `seconds_before` + this fit's seconds, per epoch.

    `train_run` checkpoints at every epoch end too, so a run killed and resumed keeps the time of the steps it
    kept; the steps redone after the restart are timed when they are redone. `callback.seconds` is the total.
    """
    import keras

    class WallClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = clock()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = seconds_before + clock() - self.start
            _write_seconds(directory, self.seconds)

    return WallClock()


def _write_seconds(directory: str, seconds: float) -> None:
    with open(os.path.join(directory, "wall_clock.json"), "w") as handle:
        json.dump({"seconds": seconds}, handle)


def _at_resolution(images, resolution: int = 32):
    """Images as the training data are fed: float in [-1, 1], bilinearly resized to `resolution` (28 → 32)."""
    import numpy as np
    import tensorflow as tf

    x = images.astype("float32") / 127.5 - 1.0 if images.dtype == np.uint8 else images.astype("float32")
    return np.clip(tf.image.resize(x, (resolution, resolution)).numpy(), -1.0, 1.0)


def fid_network(args: argparse.Namespace, fid_classifier=None):
    """The FID classifier: `fid_classifier` when given, else the standard Inception (prepared if asked)."""
    from tf_lipschitz.evaluation import load_classifier

    if fid_classifier is not None:
        return load_classifier(fid_classifier, name="stand-in")
    if args.fetch_inception:
        from tf_lipschitz.evaluation import fetch_inception

        print(f"prepared the Inception network: {fetch_inception()}")
    try:
        return load_classifier(None)
    except (RuntimeError, FileNotFoundError) as err:
        raise SystemExit(
            "The standard FID Inception network is not prepared: run `tf-lipschitz fetch-inception` once (or pass "
            f"--fetch-inception); set TF_LIPSCHITZ_CACHE to use another cache folder. The library said: {err}"
        ) from err


class Scorer:
    """FID and classifier FD of generated images against the test set, the real sides computed once."""

    def __init__(self, args: argparse.Namespace, inception, report: Callable[[str], None] = print):
        import keras
        import numpy as np

        from tf_lipschitz.data import load_images
        from tf_lipschitz.evaluation import reference_statistics, train_mnist_classifier

        self.args, self.inception = args, inception
        x_train, y_train = load_images(args.dataset, args.data_file, with_labels=True)
        x_test = load_images(args.dataset, args.data_file, split="test")
        if len(x_test) < args.fid_samples:
            raise SystemExit(f"--fid-samples {args.fid_samples} exceeds the {len(x_test)} test images")
        self.x_test = _at_resolution(x_test[: args.fid_samples])
        classifier_path = os.path.join(args.out_dir, "classifier.keras")
        if os.path.exists(classifier_path):
            self.classifier = keras.models.load_model(classifier_path, compile=False)
        else:
            report(f"training the {args.dataset} classifier on {len(x_train)} images ...")
            os.makedirs(args.out_dir, exist_ok=True)
            self.classifier = train_mnist_classifier(x_train, y_train, epochs=args.classifier_epochs,
                                                     save_path=classifier_path)
        report(f"Inception statistics of {args.fid_samples} test images (cached in {args.out_dir}/statistics) ...")
        self.test_stats = reference_statistics(
            self.x_test, dataset=f"{args.dataset}-test-{args.fid_samples}-32px", classifier_fn=inception,
            cache_dir=os.path.join(args.out_dir, "statistics"), verbose=False)
        self.x_train = x_train[np.random.default_rng(0).permutation(len(x_train))[: args.fid_samples]]

    def __call__(self, images) -> tuple[float, float]:
        """(FID, classifier FD) of `images` (float in [-1, 1], 32×32) against the test set."""
        from tf_lipschitz.evaluation import frechet_inception_distance, mnist_frechet_distance

        fid = frechet_inception_distance(self.test_stats, images, classifier_fn=self.inception, verbose=False)
        return fid, mnist_frechet_distance(self.x_test, images, self.classifier)

    def floor(self) -> tuple[float, float]:
        """The scores of `fid_samples` real training images: what a perfect generator would get."""
        return self(_at_resolution(self.x_train))


def last_grid(directory: str) -> str | None:
    """The newest sample grid of a run, or None."""
    folder = os.path.join(directory, "samples")
    grids = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    return os.path.join(folder, grids[-1]) if grids else None


def result_of(args: argparse.Namespace, run: Run, gan, seconds: float, scorer: Scorer) -> dict:
    """Scores a trained run and stores its `result.json`."""
    from tf_lipschitz.reporting import save_result

    fid, classifier_fd = scorer(gan.generate(args.fid_samples, seed=10_000 + run.seed))
    result = {"dataset": args.dataset, "model": run.model, "budget": run.budget, "seed": run.seed,
              "n_critic": MODELS[run.model], "steps": run.steps, "fid": fid, "classifier_fd": classifier_fd,
              "seconds": seconds, "seconds_per_step": seconds / run.steps, "run_dir": run.run_dir,
              "grid": last_grid(run.run_dir), "fid_samples": args.fid_samples}
    save_result(run.run_dir, result)
    return result


def _finished(args: argparse.Namespace, run: Run) -> dict | None:
    from tf_lipschitz.reporting import load_result

    result = load_result(run.run_dir)
    if result and result["steps"] == run.steps and result["fid_samples"] == args.fid_samples:
        return result
    return None


def table_rows(args: argparse.Namespace, results: list[dict], floor: tuple[float, float] | None) -> list[dict]:
    """The table's rows: each (model, budget, seed), WGAN-ALP's run listed under both budgets."""
    rows = []
    for budget in args.budgets:
        for result in results:
            if result["budget"] == budget or (result["model"] == REFERENCE and "time" in args.budgets):
                rows.append({**result, "budget": budget})
    rows.sort(key=lambda row: (args.budgets.index(row["budget"]), args.models.index(row["model"]), row["seed"]))
    if floor is not None:
        rows.append({"dataset": args.dataset, "model": "real train vs test", "budget": "", "seed": "",
                     "n_critic": "", "steps": "", "fid": floor[0], "classifier_fd": floor[1], "seconds": None,
                     "seconds_per_step": None, "run_dir": "", "grid": ""})
    return rows


def write_table(args: argparse.Namespace, rows: list[dict], pace: dict | None) -> str:
    """Writes `results.csv` and `results.md` into the out dir; returns the Markdown."""
    from tf_lipschitz.reporting import markdown_table, write_rows

    headers = ["dataset", "model", "budget", "seed", "n_critic", "generator steps", "FID", "classifier FD",
               "wall-clock (s)", "s/step", "last grid"]
    keys = ["dataset", "model", "budget", "seed", "n_critic", "steps", "fid", "classifier_fd", "seconds",
            "seconds_per_step", "grid"]
    formats = [None] * 6 + [".2f", ".2f", ".0f", ".3f", None]
    table = markdown_table(headers, [[row[key] for key in keys] for row in rows], formats=formats)
    notes = [f"FID: standard Inception, {args.fid_samples} generated vs {args.fid_samples} test images (32×32); "
             f"classifier FD: a classifier trained on the {args.dataset} training labels; wall-clock: training only."]
    if pace:
        notes.append("Timing pass, seconds per generator step: " + ", ".join(
            f"{model} {value:.3f}" for model, value in pace.items())
            + f"; the time budget gives each model the wall-clock of {args.steps} {REFERENCE} steps.")
    text = table + "\n\n" + "\n".join(notes)
    os.makedirs(args.out_dir, exist_ok=True)
    write_rows(os.path.join(args.out_dir, "results.csv"), RESULT_FIELDS, rows)
    with open(os.path.join(args.out_dir, "results.md"), "w") as handle:
        handle.write(text + "\n")
    return text


def main(argv=None, *, fid_classifier=None) -> str:
    """Runs (or resumes) the study and returns the Markdown table.

    Args:
        argv: Command-line arguments.
        fid_classifier: A stand-in for the Inception network (any `classifier_fn` of `evaluation.load_classifier`,
            e.g. a small callable in tests); None: the standard network.

    Returns:
        The Markdown table with its notes (also in `<out-dir>/results.md`; the rows in `results.csv`).
    """
    args = parse_args(argv)
    from tf_lipschitz.training import format_duration

    print(f"equal-budget study on {args.dataset}: models {', '.join(args.models)}; budgets {', '.join(args.budgets)};"
          f" seeds {' '.join(map(str, args.seeds))}; {args.steps} steps; FID on {args.fid_samples} samples; "
          f"folder {args.out_dir}")
    print(f"Expected duration: about {format_duration(estimate_seconds(args))} on two idle CPU cores "
          "(finished runs are skipped).", flush=True)
    inception = fid_network(args, fid_classifier)
    pace = measure_seconds_per_step(args) if "time" in args.budgets else None
    if pace:
        print("seconds per generator step: " + ", ".join(f"{m} {v:.3f}" for m, v in pace.items()), flush=True)
    scorer = None
    results = []
    for run in plan(args, pace):
        done = _finished(args, run)
        if done is None:
            print(f"--- {run.model}, {run.budget} budget, seed {run.seed}: {run.steps} steps in {run.run_dir}",
                  flush=True)
            scorer = scorer or Scorer(args, inception)
            gan, seconds = train(args, run)
            done = result_of(args, run, gan, seconds, scorer)
            print(f"    FID {done['fid']:.2f}, classifier FD {done['classifier_fd']:.2f}, {seconds:.0f} s", flush=True)
        results.append(done)
    floor = None
    if not args.no_floor:
        floor_path = os.path.join(args.out_dir, "floor.json")
        key = f"n={args.fid_samples}"
        stored = {}
        if os.path.exists(floor_path):
            with open(floor_path) as handle:
                stored = json.load(handle)
        if key not in stored:
            stored[key] = (scorer or Scorer(args, inception)).floor()
            with open(floor_path, "w") as handle:
                json.dump(stored, handle)
        floor = tuple(stored[key])
    text = write_table(args, table_rows(args, results, floor), pace)
    print(text)
    return text


if __name__ == "__main__":
    main()
