"""How Lipschitz is a trained critic of the equal-budget study, measured the same way for every model.

    python scripts/critic_probe.py --data ../shared/data/mnist/mnist.npz \\
        runs/equal_budget/mnist/wgan-alp-steps-seed0 runs/equal_budget/mnist/wgan-gp-steps-seed0

For each run directory (the study's `<model>-<budget>-seed<k>` or the sweep's `sweep/<variant>-seed<k>`; the
model is read from its name, the nets are the study's DCGAN pair of `--width`), the newest checkpoint is
restored and, on `--n` test images, as many generated images and their random interpolates, it prints:

- ‖∇ₓf‖₂ (mean and max): the critic's slope at the points; a 1-Lipschitz critic has at most 1 everywhere;
- the ALP quotient |f(x) − f(x̂)| / ‖x − x̂‖ with the paper's settings (ξ = 10, ε ~ U[0.1, 10], one power
  iteration), mean and max over the real and generated points: what WGAN-ALP's penalty sees;
- the same quotient with a local, well-converged direction (ξ = 0.1, ε = 0.1, ten power iterations).

The slope at the data and the local quotient are lower bounds of the critic's Lipschitz constant.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def restore(run_dir: str, channels: int, width: int):
    """The run's GAN (the study's nets) with its newest checkpoint's weights."""
    import tensorflow as tf

    from tf_lipschitz.recipes import image_networks, make_gan

    name = os.path.basename(os.path.normpath(run_dir))
    model = "sn" if name.startswith("sn-") else ("wgan-gp" if name.startswith("wgan-gp") else "wgan-alp")
    generator, critic = image_networks(model, channels, width=width)
    gan = make_gan(model, generator, critic, latent_dim=100)
    folder = os.path.join(run_dir, "checkpoints")
    step = max(int(re.sub(r"\D", "", s)) for s in os.listdir(folder) if s.startswith("step-"))
    tf.train.Checkpoint(model=gan).restore(os.path.join(folder, f"step-{step:08d}", "ckpt")).expect_partial()
    return gan, step


def probe(gan, real: np.ndarray, n: int) -> dict[str, float]:
    """Slopes and ALP quotients of the critic at real, generated and interpolated points."""
    import tensorflow as tf

    from tf_lipschitz.penalties import adversarial_lipschitz_penalty

    critic = gan.critic
    fake = gan.generate(n, seed=123)
    alpha = np.random.default_rng(0).uniform(size=(n, 1, 1, 1)).astype("float32")
    out = {}
    for name, x in (("real", real), ("fake", fake), ("interp", alpha * real + (1 - alpha) * fake)):
        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(critic(x, training=False))
        norms = tf.norm(tf.reshape(tape.gradient(y, x), (n, -1)), axis=1).numpy()
        out[f"slope {name} mean"], out[f"slope {name} max"] = float(norms.mean()), float(norms.max())
    both = tf.constant(np.concatenate([real, fake]))
    f = lambda t: critic(t, training=False)  # noqa: E731
    for label, kwargs in (("paper", {"xi": 10.0, "epsilon": (0.1, 10.0), "power_iterations": 1}),
                          ("local", {"xi": 0.1, "epsilon": 0.1, "power_iterations": 10})):
        result = adversarial_lipschitz_penalty(f, both, seed=7, **kwargs)
        out[f"ALP quotient {label} mean"] = float(result.ratio_mean)
        out[f"ALP quotient {label} max"] = float(result.ratio_max)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories of the study or the sweep")
    parser.add_argument("--data", required=True, help="the dataset's .npz (its test images are probed)")
    parser.add_argument("--n", type=int, default=256, help="test images (and generated images) probed")
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args(argv)
    import tensorflow as tf

    with np.load(args.data) as npz:
        test = npz["x_test"][: args.n]
    real = np.clip(tf.image.resize(test[..., None].astype("float32") / 127.5 - 1.0, (32, 32)).numpy(), -1, 1)
    rows = []
    for run_dir in args.runs:
        gan, step = restore(run_dir, real.shape[-1], args.width)
        rows.append((os.path.relpath(run_dir, os.path.dirname(os.path.dirname(run_dir))), step, probe(gan, real, args.n)))
    keys = list(rows[0][2])
    print("| run | step | " + " | ".join(keys) + " |")
    print("|---|---:|" + "---:|" * len(keys))
    for name, step, values in rows:
        print(f"| {name} | {step} | " + " | ".join(f"{values[k]:.3f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
