"""WGAN-ALP vs WGAN-GP vs SN-GAN on the 2-D toys (8 Gaussians, 25 Gaussians, Swiss roll), scored by exact W1.

Every (toy, model) pair trains the MLPs of `tf-lipschitz train` (3 × 256 ReLU units, Adam 1e-4, β = (0.5, 0.9),
n_critic = 5, critic batch 256, generator batch 512) and measures, every `--checkpoint-every` steps, the exact
Wasserstein-1 distance between `--eval-samples` generated and real points (optimal assignment). ALP uses
ξ = 1 and ε ~ U[0.01, 0.5]: the paper's image values (ξ = 10, ε ~ U[0.1, 10]) are in pixel units and far too
large for 2-D data of unit scale.

Run directory:
    <toy>/<model>/        a `train_run` directory: checkpoints/, log.csv (with `w1_exact`),
                          samples_and_critic.png, final.weights.npz, result.json
    w1_<toy>.png          exact W1 over steps, one line per model, with the real-vs-real noise floor
    results.md            the final table (also printed)

Rerun with the same arguments to resume; finished pairs are skipped.

Example:
    python examples/toy_wgan.py --toys 8gaussians --steps 2000
    python examples/toy_wgan.py --steps 20 --width 32 --checkpoint-every 10   # a quick look

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 5.
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (the toy distributions).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import numpy as np

TOYS = ("8gaussians", "25gaussians", "swissroll")


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line parser.

    Returns:
        An `argparse.ArgumentParser`.

    Example:
        >>> build_parser().parse_args([]).toys
        ['8gaussians', '25gaussians', 'swissroll']
    """
    from tf_lipschitz.recipes import MODELS, add_run_arguments

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--toys", nargs="+", choices=TOYS, default=list(TOYS))
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--batch-size", type=int, default=256, help="critic batch (default %(default)s)")
    parser.add_argument("--n-critic", type=int, default=5, help="critic updates per generator step")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default %(default)s)")
    parser.add_argument("--width", type=int, default=256, help="units per hidden layer (default %(default)s)")
    parser.add_argument("--depth", type=int, default=3, help="hidden layers per network (default %(default)s)")
    parser.add_argument("--gp-weight", type=float, default=10.0,
                        help="λ of WGAN-GP (default %(default)s as for images; Gulrajani et al.'s toy script used 0.1)")
    parser.add_argument("--eval-samples", type=int, default=1000, help="points per side of the exact W1")
    add_run_arguments(parser, steps=1000, checkpoint_every=100, run_dir=os.path.join("runs", "toy_wgan"))
    return parser


def train_one(args: argparse.Namespace, toy: str, model: str) -> dict:
    """Trains one model on one toy in `<run_dir>/<toy>/<model>` (resuming) and returns its result.

    Args:
        args: Parsed arguments.
        toy: Toy distribution name.
        model: "wgan-alp", "wgan-gp" or "sn".

    Returns:
        {"w1": final exact W1, "noise_floor": …, "seconds": wall clock, "steps": …}.

    Raises:
        TrainingDiverged: when a loss term becomes non-finite.
    """
    import keras

    from tf_lipschitz.recipes import TOY_ALP, adam_optimizers, make_gan, run_training, seed_everything, toy_networks
    from tf_lipschitz.reporting import save_result
    from tf_lipschitz.callbacks import ToyW1Monitor
    from tf_lipschitz.toy import exact_w1, toy_dataset

    run_dir = os.path.join(args.run_dir, toy, model)
    keras.backend.clear_session()
    seed_everything(args.seed)
    generator, critic = toy_networks(args.width, args.depth, spectral_norm=model == "sn")
    extra = {"penalty_weight": args.gp_weight} if model == "wgan-gp" else {}
    extra.update({"penalty_kwargs": TOY_ALP} if model == "wgan-alp" else {})
    gan = make_gan(model, generator, critic, latent_dim=2, n_critic=args.n_critic, seed=args.seed,
                   **extra)
    critic_opt, generator_opt = adam_optimizers(args.lr, 0.5, 0.9)
    gan.compile(critic_optimizer=critic_opt, generator_optimizer=generator_opt, jit_compile=args.jit)
    monitor = ToyW1Monitor(toy, every_n_steps=min(args.checkpoint_every, args.steps), n=args.eval_samples,
                           plot_path=os.path.join(run_dir, "samples_and_critic.png"), seed=args.seed)
    print(f"[toy_wgan] {toy} / {model}: {args.steps} steps, critic batch {args.batch_size} x n_critic "
          f"{args.n_critic}, run dir {run_dir}", flush=True)
    dataset = toy_dataset(toy, args.batch_size * args.n_critic, seed=args.seed)
    trained = run_training(gan, dataset, run_dir=run_dir, steps=args.steps, checkpoint_every=args.checkpoint_every,
                           callbacks=[monitor], verbose=args.verbose)
    if not monitor.history["step"]:  # a finished run resumed: no plot yet from this process
        monitor.set_model(gan)
        monitor.plot(monitor.plot_path)
    w1 = exact_w1(gan.generate(args.eval_samples, seed=args.seed + 10_000), monitor.real)
    result = {"w1": w1, "noise_floor": monitor.noise_floor, "seconds": trained["seconds"],
              "steps": trained["end_step"]}
    save_result(run_dir, result)
    print(f"[toy_wgan] {toy} / {model}: exact W1 {w1:.4f} (noise floor {monitor.noise_floor:.4f}), "
          f"{trained['seconds']:.0f} s", flush=True)
    return result


def w1_curve(run_dir: str, checkpoint_every: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, exact W1) over training, read back from a pair's `log.csv` (one row per interval)."""
    from tf_lipschitz.reporting import read_csv_log

    log = read_csv_log(os.path.join(run_dir, "log.csv"))
    w1 = log.get("w1_exact", np.zeros(0))
    return log["step"] if len(w1) else np.zeros(0), w1


def report(args: argparse.Namespace, results: dict) -> str:
    """Writes the W1 plots and `results.md`; returns the Markdown.

    Args:
        args: Parsed arguments.
        results: (toy, model) ↦ the dict of `train_one`, or an error string.

    Returns:
        The Markdown report.
    """
    from tf_lipschitz.reporting import line_plot, markdown_table

    final_rows, curve_rows, curves = [], [], {}
    for (toy, model), result in results.items():
        steps, w1 = w1_curve(os.path.join(args.run_dir, toy, model), args.checkpoint_every, args.steps)
        curves.setdefault(toy, {})[model] = (steps, w1)
        if isinstance(result, str):
            final_rows.append([toy, model, result, None, None, None, None])
            continue
        best = int(np.nanargmin(w1)) if len(w1) and np.isfinite(w1).any() else None
        final_rows.append([toy, model, result["w1"], None if best is None else w1[best],
                           None if best is None else int(steps[best]), result["noise_floor"],
                           round(result["seconds"], 1)])
    for toy, by_model in curves.items():
        floor = next((r["noise_floor"] for (t, _), r in results.items() if t == toy and isinstance(r, dict)), None)
        line_plot(os.path.join(args.run_dir, f"w1_{toy}.png"), by_model, xlabel="generator step",
                  ylabel="exact W1(generated, real)", title=f"{toy}: exact W1 over training", logy=True,
                  hlines={"noise floor (real vs real)": floor} if floor else None)
        for model, (steps, w1) in by_model.items():
            # At most 8 columns: evenly spaced logged steps, always including the last.
            idx = np.unique(np.linspace(0, len(steps) - 1, min(8, len(steps))).round().astype(int)) if len(steps) else []
            picks = {int(steps[i]): w1[i] for i in idx}
            curve_rows.append((toy, model, picks))
    columns = sorted({s for _, _, p in curve_rows for s in p})
    text = "# Exact W1 between generated and real 2-D samples\n\n" + markdown_table(
        ["toy", "model", "final W1", "best W1", "best at step", "noise floor", "wall clock (s)"], final_rows)
    text += "\n\n## Exact W1 over training (generator steps)\n\n" + markdown_table(
        ["toy", "model"] + [str(c) for c in columns],
        [[toy, model] + [p.get(c) for c in columns] for toy, model, p in curve_rows])
    text += f"\n\n{args.eval_samples} samples per side; plots: " + ", ".join(f"w1_{t}.png" for t in curves) + "\n"
    with open(os.path.join(args.run_dir, "results.md"), "w") as handle:
        handle.write(text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the example.

    Args:
        argv: Command-line arguments (without the program name); `sys.argv[1:]` when None.

    Returns:
        0 on success, 1 if a run diverged (the others still run), 2 for a usage error.

    Example:
        >>> main(["--toys", "8gaussians", "--steps", "20", "--width", "32"])  # doctest: +SKIP
    """
    from tf_lipschitz.reporting import load_result
    from tf_lipschitz.training import TrainingDiverged

    args = build_parser().parse_args(argv)
    results, code = {}, 0
    for toy in args.toys:
        for model in args.models:
            done = load_result(os.path.join(args.run_dir, toy, model))
            try:
                results[toy, model] = done if done and done.get("steps", 0) >= args.steps else train_one(args, toy, model)
            except TrainingDiverged as err:
                print(f"error: {toy} / {model} diverged: {err}", file=sys.stderr)
                results[toy, model], code = "diverged", 1
            except ValueError as err:
                print(f"error: {err}", file=sys.stderr)
                return 2
    print(report(args, results))
    print(f"done: {args.run_dir}")
    return code


if __name__ == "__main__":
    sys.exit(main())
