"""Why WGAN-ALP trails WGAN-GP on MNIST-like data: one setting of the ALP changed at a time, scored like the study.

Runs next to `equal_budget_study.py` (same `--out-dir`): every variant trains the study's WGAN-ALP (the main
command's DCGAN 32×32 pair, Adam(2e-4, β = (0, 0.9)), critic batch 64, n_critic 5, λ = 100, ε ~ U[0.1, 10],
ξ = 10, one power iteration, ALP on real and generated samples) with one change, for the study's steps and seed,
and is scored with the study's scorer (the same FID test statistics and classifier, read from the out dir).
Its rows are directly comparable with the study's `wgan-alp`/`wgan-gp` rows of the same seed.

Variants (`--variants`, comma-separated):

    relative-epsilon  ε ~ U[0.003, 0.2] × the batch's typical pairwise distance (`RelativeEpsilon`): the
                      fractions that U[0.1, 10] gives on CIFAR-10, whatever the data's scale
    small-epsilon     ε ~ U[0.01, 1]
    xi-1              ξ = 1 (the probe step of the power iteration)
    xi-0              ξ → 0 (`xi=0`): the direction ±∇f(x)/‖∇f(x)‖ at x itself, the limit of the iteration
    lambda-10         λ = 10
    clip              the probe x + ξd and x̂ clipped to the data range [-1, 1], as the author's CIFAR-10 code
    n-critic-2        two critic steps per generator step (ALP's cost per generator step drops)
    lr-1e-4           Adam learning rate 1e-4

Changes combine with "+" (`--variants xi-1+lambda-10` trains ξ = 1 and λ = 10 together; a later change of the same
setting overrides an earlier one).

    python examples/alp_sweep.py --dataset mnist --data-file ../shared/data/mnist/mnist.npz \\
        --out-dir runs/equal_budget/mnist

Each run lives in `<out-dir>/sweep/<variant>-seed<k>` (resumable, `result.json` when scored); the table goes to
`<out-dir>/sweep/results.md` and `.csv`, with the study's rows of the same seed (when present) for reference.

`--timing` then measures the cost per generator step of the paper's WGAN-ALP, WGAN-GP and the variants, trained in
alternation like the study's timing pass (`--timing-rounds` rounds of `--timing-steps` steps, fastest round), into
`<out-dir>/sweep/timing.md` and `.json`: the wall-clock columns of the runs depend on the load while they trained.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import equal_budget_study as study  # noqa: E402

# variant → (ALP options, LipschitzGAN options, n_critic, learning rate); None: the study's value
VARIANTS = {
    "relative-epsilon": ({"epsilon": "relative"}, {}, None, None),
    "small-epsilon": ({"epsilon": (0.01, 1.0)}, {}, None, None),
    "xi-1": ({"xi": 1.0}, {}, None, None),
    "xi-0": ({"xi": 0.0}, {}, None, None),
    "lambda-10": ({}, {"penalty_weight": 10.0}, None, None),
    "clip": ({"clip": (-1.0, 1.0), "clip_probe": True}, {}, None, None),
    "n-critic-2": ({}, {}, 2, None),
    "lr-1e-4": ({}, {}, None, 1e-4),
}
FIELDS = ("variant", "seed", "n_critic", "steps", "fid", "classifier_fd", "seconds", "seconds_per_step", "run_dir",
          "grid")


def parse_args(argv=None) -> argparse.Namespace:
    """The sweep's arguments; `--variants` keeps the order given (the runs follow it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=study.DATASETS, default="mnist")
    parser.add_argument("--data-file", required=True, help=".npz in the keras.datasets layout (with labels)")
    parser.add_argument("--out-dir", required=True, help="the equal-budget study's folder (its scorer is reused)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated variants, each one of " + ",".join(VARIANTS)
                        + " or several joined by '+' (changed together); run in the order given")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=2500, help="generator steps (the study's default)")
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--fid-samples", type=int, default=5000)
    parser.add_argument("--classifier-epochs", type=int, default=3)
    parser.add_argument("--timing", action="store_true",
                        help="also time the paper's WGAN-ALP, WGAN-GP and the variants in alternation (see above)")
    parser.add_argument("--timing-steps", type=int, default=20, help="generator steps per model and timing round")
    parser.add_argument("--timing-rounds", type=int, default=5, help="timing rounds")
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = parser.parse_args(argv)
    args.variants = [item for item in args.variants.split(",") if item]
    unknown = [part for item in args.variants for part in item.split("+") if part not in VARIANTS]
    if unknown or not args.variants:
        parser.error(f"--variants: each variant must be one of {','.join(VARIANTS)} or several of them joined by '+'. "
                     f"Received: --variants={','.join(args.variants)}")
    return args


def variant_settings(variant: str) -> tuple[dict, dict, int | None, float | None]:
    """The changes of a variant ("xi-1" or a "+"-joined combination such as "xi-1+lambda-10").

    Returns:
        (ALP options, LipschitzGAN options, n_critic, learning rate); None where the study's value stays.

    Example:
        >>> variant_settings("xi-1+lambda-10")
        ({'xi': 1.0}, {'penalty_weight': 10.0}, None, None)
    """
    alp, gan_kwargs, n_critic, lr = {}, {}, None, None
    for part in variant.split("+"):
        part_alp, part_gan, part_n_critic, part_lr = VARIANTS[part]
        alp, gan_kwargs = {**alp, **part_alp}, {**gan_kwargs, **part_gan}
        n_critic, lr = part_n_critic or n_critic, part_lr or lr
    return alp, gan_kwargs, n_critic, lr


def build(args: argparse.Namespace, variant: str, run_dir: str):
    """The study's WGAN-ALP (`tf-lipschitz train`'s set-up) with the variant's change, compiled.

    Returns:
        (gan, dataset, callbacks, n_critic).
    """
    from tf_lipschitz.penalties import RelativeEpsilon
    from tf_lipschitz.commands.train import settings
    from tf_lipschitz.commands.train_job import build as build_setup

    alp, gan_kwargs, n_critic, lr = variant_settings(variant)
    alp = {k: RelativeEpsilon() if v == "relative" else v for k, v in alp.items()}
    n_critic = n_critic or study.MODELS["wgan-alp"]
    parsed = study.train_args(args, "wgan-alp", args.seed, args.steps, run_dir, n_critic=n_critic,
                              extra=("--lr", str(lr)) if lr else ())
    setup = build_setup(parsed, settings(parsed), report=lambda line: None, gan_options={"penalty_kwargs": alp, **gan_kwargs})
    return setup.gan, setup.dataset, setup.callbacks, n_critic


def run_variant(args: argparse.Namespace, variant: str, scorer) -> dict:
    """Trains (or resumes) one variant and scores it; a scored run is read back from its `result.json`."""
    from tf_lipschitz.reporting import load_result, save_result
    from tf_lipschitz.training import train_run

    run_dir = os.path.join(args.out_dir, "sweep", f"{variant}-seed{args.seed}")
    done = load_result(run_dir)
    if done and done["steps"] == args.steps and done["fid_samples"] == args.fid_samples:
        return done
    print(f"--- {variant}, seed {args.seed}: {args.steps} steps in {run_dir}", flush=True)
    gan, dataset, callbacks, n_critic = build(args, variant, run_dir)
    seconds = study._read_seconds(run_dir)
    clock = study.wall_clock(run_dir, seconds)
    history = train_run(gan, dataset, run_dir=run_dir, steps=args.steps, checkpoint_every=args.checkpoint_every,
                        callbacks=[*callbacks, clock], verbose=args.verbose)
    if history["start_step"] < args.steps:
        seconds = clock.seconds
    fid, classifier_fd = scorer(gan.generate(args.fid_samples, seed=10_000 + args.seed))
    result = {"variant": variant, "seed": args.seed, "n_critic": n_critic, "steps": args.steps, "fid": fid,
              "classifier_fd": classifier_fd, "seconds": seconds, "seconds_per_step": seconds / args.steps,
              "run_dir": run_dir, "grid": study.last_grid(run_dir), "fid_samples": args.fid_samples}
    save_result(run_dir, result)
    print(f"    FID {fid:.2f}, classifier FD {classifier_fd:.2f}, {seconds:.0f} s", flush=True)
    return result


def timing(args: argparse.Namespace) -> str:
    """Seconds per generator step of the paper's WGAN-ALP, WGAN-GP and each variant, timed in alternation.

    Returns:
        The Markdown table (also in `<out-dir>/sweep/timing.md`; the rounds in `timing.json`).
    """
    from tf_lipschitz.commands.train import settings
    from tf_lipschitz.commands.train_job import build as build_setup
    from tf_lipschitz.reporting import markdown_table

    folder = os.path.join(args.out_dir, "sweep", "timing")
    setups = {}
    for model, name in (("wgan-alp", "paper"), ("wgan-gp", "WGAN-GP")):
        parsed = study.train_args(args, model, args.seed, args.timing_steps, os.path.join(folder, model))
        setup = build_setup(parsed, settings(parsed), report=lambda line: None)
        setups[name] = (setup.gan, setup.dataset)
    for variant in args.variants:
        gan, dataset, _, _ = build(args, variant, os.path.join(folder, variant))
        setups[variant] = (gan, dataset)
    pace, _ = study.time_in_alternation(setups, args.timing_steps, args.timing_rounds,
                                        os.path.join(args.out_dir, "sweep", "timing.json"))
    table = markdown_table(["model", "s/step (fastest round)", "/ WGAN-GP", "/ paper WGAN-ALP"],
                           [[name, pace[name], pace[name] / pace["WGAN-GP"], pace[name] / pace["paper"]]
                            for name in pace], formats=[None, ".4f", ".2f", ".2f"])
    text = table + (f"\n\n{args.dataset}, seconds per generator step, {args.timing_rounds} rounds of "
                    f"{args.timing_steps} steps in alternation, fastest round.")
    with open(os.path.join(args.out_dir, "sweep", "timing.md"), "w") as handle:
        handle.write(text + "\n")
    return text


def study_rows(args: argparse.Namespace) -> list[dict]:
    """The study's steps-budget rows of this seed (WGAN-ALP with the paper's settings, WGAN-GP), if scored."""
    from tf_lipschitz.reporting import load_result

    rows = []
    for model, name in (("wgan-alp", "paper (study)"), ("wgan-gp", "WGAN-GP (study)")):
        result = load_result(os.path.join(args.out_dir, f"{model}-steps-seed{args.seed}"))
        if result and result["steps"] == args.steps and result["fid_samples"] == args.fid_samples:
            rows.append({**result, "variant": name})
    return rows


def main(argv=None, *, fid_classifier=None) -> str:
    """Runs (or resumes) the sweep.

    Args:
        argv: Command-line arguments.
        fid_classifier: A stand-in for the Inception network (tests); None: the standard network.

    Returns:
        The Markdown table (also in `<out-dir>/sweep/results.md`, the rows in `results.csv`), followed by the
        timing table with `--timing`.

    Raises:
        SystemExit: for an unknown variant, or an Inception network that is not prepared.
    """
    from tf_lipschitz.reporting import markdown_table, write_rows

    args = parse_args(argv)
    study_args = study.parse_args(["--dataset", args.dataset, "--data-file", args.data_file, "--out-dir", args.out_dir,
                                   "--fid-samples", str(args.fid_samples), "--classifier-epochs",
                                   str(args.classifier_epochs)])
    scorer = study.Scorer(study_args, study.fid_network(study_args, fid_classifier))
    rows = study_rows(args) + [run_variant(args, variant, scorer) for variant in args.variants]
    keys = ["variant", "seed", "n_critic", "steps", "fid", "classifier_fd", "seconds", "seconds_per_step", "grid"]
    headers = ["WGAN-ALP variant", "seed", "n_critic", "generator steps", "FID", "classifier FD", "wall-clock (s)",
               "s/step", "last grid"]
    table = markdown_table(headers, [[row[key] for key in keys] for row in rows],
                           formats=[None] * 4 + [".2f", ".2f", ".0f", ".3f", None])
    text = table + (f"\n\nFID: standard Inception, {args.fid_samples} generated vs {args.fid_samples} test images; "
                    "one change from the paper's settings per row (see examples/alp_sweep.py).")
    folder = os.path.join(args.out_dir, "sweep")
    os.makedirs(folder, exist_ok=True)
    write_rows(os.path.join(folder, "results.csv"), FIELDS, rows)
    with open(os.path.join(folder, "results.md"), "w") as handle:
        handle.write(text + "\n")
    print(text)
    if args.timing:
        timing_text = timing(args)
        print("\n" + timing_text)
        text += "\n\n" + timing_text
    return text


if __name__ == "__main__":
    main()
