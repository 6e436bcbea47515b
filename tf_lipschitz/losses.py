"""GAN losses of Table 1 with the domain scaling L_α(Ω) = L(α·Ω)/α (Eq. 11).

Every loss here is built from three scalar functions of the critic output ω = f(·):

* the *real term*  L_r(ω), averaged over f(x) of real samples,
* the *fake term*  L_f(ω), averaged over f(g(z)) of generated samples,
* the *generator term* L_g(ω), averaged over f(g(z)),

so that the discriminator minimizes  E[L_r(f(x))] + E[L_f(f(g(z)))]  and the generator minimizes
E[L_g(f(g(z)))].

Sign convention: **the critic scores real samples high** for every loss. Table 1 of the paper
writes WGAN and EXP-GAN with the opposite sign of f (real scored low); we flip f for those two,
which changes nothing but the sign of the critic. So WGAN's discriminator minimizes
E f(g(z)) − E f(x) (ALP paper, Eq. 26), its generator minimizes −E f(g(z)), and the Wasserstein
estimate is E f(x) − E f(g(z)) (`wasserstein_estimate`).

Domain scaling (Eq. 11) replaces each term L by L_α(ω) = L(αω)/α. Its derivative is
dL_α/dω = L'(αω), so as α → 0 every loss becomes the linear, WGAN-like loss L'(0)·ω (Eq. 13).
Two numerical choices keep this usable down to α = 1e-25 and below in float32:

* **The constant L(0)/α is dropped by default** (`include_constant=False`): we report
  (L(αω) − L(0))/α. The constant has no gradient, but for α = 1e-25 it is ~1e25 and would swamp
  every logged value. At α = 1 this means, e.g., that NS-GAN's discriminator loss is the usual
  binary cross-entropy minus 2·log 2. Pass `include_constant=True` for the textbook values.
* L(t) − L(0) is evaluated in a cancellation-free closed form (log1p/expm1, product-to-sum for
  cosines), and where |αω| < 1e-3, or αω underflows, by the third-order Taylor expansion
  ω·(L'(0) + ½L''(0)·αω + ⅙L'''(0)·(αω)²), which never divides by α. Values and gradients are
  both right to float32 precision on either side of the switch.

For the domain/range logger, each term also exposes its derivative `derivative(ω) = L'(αω)`,
whose values at min Ω and max Ω give the interval Ψ of attainable gradients (Eq. 9).

Reference:
    "How does Lipschitz regularization influence GAN training?" (Table 1, Eqs. 9, 11, 13,
    appendix D for LS-GAN#). Goodfellow et al., 2014 (NS-GAN); Mao et al., 2017a (LS-GAN) and
    2017b (the zero-centered LS-GAN#); Arjovsky et al., 2017 (WGAN);
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020 (Eq. 26).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import keras
from keras import ops

__all__ = [
    "LossTerm",
    "GANLoss",
    "get",
    "available",
    "wasserstein_estimate",
    "ns_gan_discriminator_loss",
    "ns_gan_generator_loss",
    "ls_gan_discriminator_loss",
    "ls_gan_generator_loss",
    "ls_gan_zero_centered_discriminator_loss",
    "ls_gan_zero_centered_generator_loss",
    "wgan_discriminator_loss",
    "wgan_generator_loss",
    "cos_gan_discriminator_loss",
    "cos_gan_generator_loss",
    "exp_gan_discriminator_loss",
    "exp_gan_generator_loss",
]

# Below this |αω| the Taylor branch is used; its truncation error is O((αω)^3) ≈ 1e-9 relative.
_TAYLOR_THRESHOLD = 1e-3


# ---------------------------------------------------------------------------------------------
# Scalar building blocks: L(t) − L(0) in closed forms without cancellation near t = 0.
# ---------------------------------------------------------------------------------------------


def _softplus_neg_centered(t):
    """softplus(−t) − log 2 = log((1 + e^{−t})/2), accurate for every t (no overflow, no cancellation)."""
    positive = t >= 0
    # Clamp each branch's input so the branch not taken stays finite (no NaN in its gradient).
    t_pos = ops.where(positive, t, ops.zeros_like(t))
    t_neg = ops.where(positive, ops.zeros_like(t), t)
    branch_pos = ops.log1p(ops.expm1(-t_pos) / 2.0)
    branch_neg = -t_neg + ops.log1p(ops.expm1(t_neg) / 2.0)
    return ops.where(positive, branch_pos, branch_neg)


def _cos_real_centered(t):
    """−cos(t − 1) + cos(1) = −2 sin(t/2) sin(1 − t/2)."""
    return -2.0 * ops.sin(t / 2.0) * ops.sin(1.0 - t / 2.0)


def _cos_fake_centered(t):
    """−cos(t + 1) + cos(1) = 2 sin(1 + t/2) sin(t/2)."""
    return 2.0 * ops.sin(1.0 + t / 2.0) * ops.sin(t / 2.0)


@dataclass(frozen=True)
class LossTerm:
    """One scalar loss term L(ω) of Table 1 with domain scaling: L_α(ω) = L(αω)/α (Eq. 11).

    Calling the term returns the per-sample values (L(αω) − L(0))/α, plus L(0)/α when
    `include_constant` is set; `derivative(ω)` returns dL_α/dω = L'(αω).

    Args:
        name: Short description, e.g. "−log σ(ω)".
        centered: Callable t ↦ L(t) − L(0), numerically stable near t = 0.
        derivative_fn: Callable t ↦ L'(t).
        taylor: (L'(0), L''(0)/2, L'''(0)/6), used where |αω| < 1e-3.
        constant: L(0).
        alpha: The domain scaling α > 0.
        include_constant: Whether to add L(0)/α to the values.

    Example:
        >>> term = get("ns-gan").real
        >>> round(float(term.derivative(ops.convert_to_tensor(0.0))), 3)
        -0.5
    """

    name: str
    centered: Callable
    derivative_fn: Callable
    taylor: tuple
    constant: float
    alpha: float = 1.0
    include_constant: bool = False

    def __call__(self, omega):
        omega = ops.convert_to_tensor(omega)
        dtype = omega.dtype
        if not keras.backend.is_float_dtype(dtype):
            omega = ops.cast(omega, "float32")
            dtype = omega.dtype
        alpha = ops.convert_to_tensor(self.alpha, dtype=dtype)
        t = alpha * omega
        small = ops.abs(t) < _TAYLOR_THRESHOLD
        c1, c2, c3 = self.taylor
        omega_small = ops.where(small, omega, ops.zeros_like(omega))
        t_small = alpha * omega_small
        taylor = omega_small * (c1 + t_small * (c2 + t_small * c3))
        # In the direct branch feed a harmless constant where Taylor is used, so 1/α never meets 0/0.
        t_large = ops.where(small, ops.ones_like(t), t)
        direct = self.centered(t_large) / alpha
        values = ops.where(small, taylor, direct)
        if self.include_constant and self.constant != 0.0:
            values = values + ops.convert_to_tensor(self.constant / self.alpha, dtype=dtype)
        return values

    def derivative(self, omega):
        """dL_α/dω = L'(αω): the per-sample gradient the loss sends back to the critic output."""
        omega = ops.convert_to_tensor(omega)
        if not keras.backend.is_float_dtype(omega.dtype):
            omega = ops.cast(omega, "float32")
        return self.derivative_fn(ops.convert_to_tensor(self.alpha, dtype=omega.dtype) * omega)


def _term(name, centered, derivative_fn, taylor, constant):
    return dict(name=name, centered=centered, derivative_fn=derivative_fn, taylor=taylor, constant=constant)


_SIN1, _COS1 = math.sin(1.0), math.cos(1.0)

# Each family: (real term, fake term, generator term), all in the "real scores high" convention.
_FAMILIES = {
    "ns-gan": (
        _term("-log sigmoid(w)", _softplus_neg_centered, lambda t: -ops.sigmoid(-t), (-0.5, 0.125, 0.0), math.log(2.0)),
        _term("-log(1 - sigmoid(w))", lambda t: _softplus_neg_centered(-t), ops.sigmoid, (0.5, 0.125, 0.0), math.log(2.0)),
        _term("-log sigmoid(w)", _softplus_neg_centered, lambda t: -ops.sigmoid(-t), (-0.5, 0.125, 0.0), math.log(2.0)),
    ),
    "ls-gan": (
        _term("(w - 1)^2", lambda t: t * (t - 2.0), lambda t: 2.0 * (t - 1.0), (-2.0, 1.0, 0.0), 1.0),
        _term("w^2", ops.square, lambda t: 2.0 * t, (0.0, 1.0, 0.0), 0.0),
        _term("(w - 1)^2", lambda t: t * (t - 2.0), lambda t: 2.0 * (t - 1.0), (-2.0, 1.0, 0.0), 1.0),
    ),
    "ls-gan#": (
        _term("(w - 1)^2", lambda t: t * (t - 2.0), lambda t: 2.0 * (t - 1.0), (-2.0, 1.0, 0.0), 1.0),
        _term("(w + 1)^2", lambda t: t * (t + 2.0), lambda t: 2.0 * (t + 1.0), (2.0, 1.0, 0.0), 1.0),
        _term("(w - 1)^2", lambda t: t * (t - 2.0), lambda t: 2.0 * (t - 1.0), (-2.0, 1.0, 0.0), 1.0),
    ),
    "wgan": (
        _term("-w", ops.negative, lambda t: -ops.ones_like(t), (-1.0, 0.0, 0.0), 0.0),
        _term("w", lambda t: t, ops.ones_like, (1.0, 0.0, 0.0), 0.0),
        _term("-w", ops.negative, lambda t: -ops.ones_like(t), (-1.0, 0.0, 0.0), 0.0),
    ),
    "cos-gan": (
        _term("-cos(w - 1)", _cos_real_centered, lambda t: ops.sin(t - 1.0), (-_SIN1, _COS1 / 2, _SIN1 / 6), -_COS1),
        _term("-cos(w + 1)", _cos_fake_centered, lambda t: ops.sin(t + 1.0), (_SIN1, _COS1 / 2, -_SIN1 / 6), -_COS1),
        _term("-cos(w - 1)", _cos_real_centered, lambda t: ops.sin(t - 1.0), (-_SIN1, _COS1 / 2, _SIN1 / 6), -_COS1),
    ),
    "exp-gan": (
        _term("exp(-w)", lambda t: ops.expm1(-t), lambda t: -ops.exp(-t), (-1.0, 0.5, -1.0 / 6), 1.0),
        _term("exp(w)", ops.expm1, ops.exp, (1.0, 0.5, 1.0 / 6), 1.0),
        _term("exp(-w)", lambda t: ops.expm1(-t), lambda t: -ops.exp(-t), (-1.0, 0.5, -1.0 / 6), 1.0),
    ),
}

_ALIASES = {
    "ns": "ns-gan", "nsgan": "ns-gan", "nonsaturating": "ns-gan",
    "ls": "ls-gan", "lsgan": "ls-gan",
    "ls#": "ls-gan#", "lsgan#": "ls-gan#", "lszero": "ls-gan#", "lsganzero": "ls-gan#",
    "lszerocentered": "ls-gan#", "lsganzerocentered": "ls-gan#",
    "w": "wgan", "wgan": "wgan", "wasserstein": "wgan",
    "cos": "cos-gan", "cosgan": "cos-gan",
    "exp": "exp-gan", "expgan": "exp-gan",
}


def available() -> tuple:
    """Canonical loss names accepted by `get`: ('ns-gan', 'ls-gan', 'ls-gan#', 'wgan', 'cos-gan', 'exp-gan')."""
    return tuple(_FAMILIES)


def _canonical(name: str) -> str:
    if not isinstance(name, str):
        raise ValueError(f"`loss` must be a string, one of {available()}. Received: loss={name!r}")
    key = name.strip().lower()
    if key in _FAMILIES:
        return key
    squeezed = key.replace("-", "").replace("_", "").replace(" ", "")
    if squeezed in _ALIASES:
        return _ALIASES[squeezed]
    raise ValueError(f"Unknown GAN loss. Expected one of {available()} (or aliases such as 'ns', 'ls#'). Received: loss={name!r}")


def _validate_alpha(alpha) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = float("nan")
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"`alpha` must be a finite number > 0. Received: alpha={alpha!r}")
    return value


class GANLoss:
    """A GAN loss family of Table 1 with domain scaling α: the discriminator and generator losses.

    The discriminator loss is E[L_r(f(x))] + E[L_f(f(g(z)))], the generator loss E[L_g(f(g(z)))],
    each term domain-scaled as L_α(ω) = L(αω)/α (Eq. 11); expectations are means over all
    elements of the critic outputs. The critic scores real samples high.

    Args:
        name: One of `available()` or an alias ("ns", "ls", "ls#", "wgan", "cos", "exp").
        alpha: Domain scaling α > 0; α → 0 gives the linear WGAN-like loss L'(0)·ω.
        include_constant: Add back the constant L(0)/α (see the module docstring).

    Attributes:
        real, fake, generator: The three `LossTerm`s (per-sample values and `derivative`).

    Raises:
        ValueError: for an unknown name or α ≤ 0.

    Example:
        >>> loss = GANLoss("wgan")
        >>> real, fake = ops.convert_to_tensor([2.0, 4.0]), ops.convert_to_tensor([1.0, -3.0])
        >>> float(loss.discriminator_loss(real, fake))  # E f(fake) − E f(real)
        -4.0
        >>> float(loss.generator_loss(fake))  # −E f(fake)
        1.0
    """

    def __init__(self, name: str = "wgan", alpha: float = 1.0, *, include_constant: bool = False):
        self.name = _canonical(name)
        self.alpha = _validate_alpha(alpha)
        self.include_constant = bool(include_constant)
        real, fake, generator = _FAMILIES[self.name]
        common = dict(alpha=self.alpha, include_constant=self.include_constant)
        self.real = LossTerm(**real, **common)
        self.fake = LossTerm(**fake, **common)
        self.generator = LossTerm(**generator, **common)

    def discriminator_loss(self, real_outputs, fake_outputs):
        """E[L_r,α(f(x))] + E[L_f,α(f(g(z)))] as a scalar."""
        return ops.mean(self.real(real_outputs)) + ops.mean(self.fake(fake_outputs))

    def generator_loss(self, fake_outputs):
        """E[L_g,α(f(g(z)))] as a scalar."""
        return ops.mean(self.generator(fake_outputs))

    def get_config(self) -> dict:
        return {"name": self.name, "alpha": self.alpha, "include_constant": self.include_constant}

    def __repr__(self) -> str:
        return f"GANLoss(name={self.name!r}, alpha={self.alpha!r}, include_constant={self.include_constant})"


def get(name, alpha: float | None = None, *, include_constant: bool | None = None) -> GANLoss:
    """Returns the `GANLoss` called `name` with domain scaling `alpha`.

    A `GANLoss` may be passed instead of a name: it is returned as is when `alpha` and `include_constant`
    are None, and otherwise rebuilt with the given values (so `get(GANLoss("ns"), alpha=0.1)` is at α = 0.1).

    Args:
        name: "ns-gan", "ls-gan", "ls-gan#", "wgan", "cos-gan" or "exp-gan" (aliases: "ns", "ls",
            "ls#", "cos", "exp", underscores and case ignored), or a `GANLoss`.
        alpha: Domain scaling α > 0 of Eq. 11; None keeps the `GANLoss`'s own α (1 for a name).
        include_constant: Add back the constant L(0)/α; None keeps the `GANLoss`'s own setting (False for
            a name).

    Returns:
        A `GANLoss`.

    Raises:
        ValueError: for an unknown name or α ≤ 0.

    Example:
        >>> get("ls#", alpha=1e-25)
        GANLoss(name='ls-gan#', alpha=1e-25, include_constant=False)
        >>> get(GANLoss("ns"), alpha=0.5)
        GANLoss(name='ns-gan', alpha=0.5, include_constant=False)
    """
    if isinstance(name, GANLoss):
        if alpha is None and include_constant is None:
            return name
        alpha = name.alpha if alpha is None else alpha
        include_constant = name.include_constant if include_constant is None else include_constant
        name = name.name
    return GANLoss(name, 1.0 if alpha is None else alpha, include_constant=bool(include_constant))


def wasserstein_estimate(real_outputs, fake_outputs):
    """E f(x) − E f(g(z)): the critic's estimate of W1 when f is 1-Lipschitz (Kantorovich–Rubinstein)."""
    return ops.mean(real_outputs) - ops.mean(fake_outputs)


# ---------------------------------------------------------------------------------------------
# Functional API: one discriminator and one generator loss per row of Table 1, each a thin shorthand
# for `GANLoss` made by one factory (so that they cannot drift from it).
# ---------------------------------------------------------------------------------------------

_FUNCTIONAL_DOC = """{title} {role} loss: {formula}.

Shorthand for `get({name!r}, alpha, include_constant=include_constant).{role}_loss(...)`; each term is
domain-scaled, L_α(ω) = L(αω)/α (Eq. 11), without its constant L(0)/α unless `include_constant` (see the
module docstring).

Args:
{args}    alpha: Domain scaling α > 0.
    include_constant: Add back the constant L(0)/α.

Returns:
    A scalar tensor (means over all elements).

Raises:
    ValueError: if α ≤ 0.
"""
_REAL_ARG = "    real_outputs: Critic outputs f(x) on real samples.\n"
_FAKE_ARG = "    fake_outputs: Critic outputs f(g(z)) on generated samples.\n"


def _functional_pair(prefix: str, name: str, title: str, d_formula: str, g_formula: str):
    def discriminator(real_outputs, fake_outputs, *, alpha=1.0, include_constant=False):
        return GANLoss(name, alpha, include_constant=include_constant).discriminator_loss(real_outputs, fake_outputs)

    def generator(fake_outputs, *, alpha=1.0, include_constant=False):
        return GANLoss(name, alpha, include_constant=include_constant).generator_loss(fake_outputs)

    for fn, role, formula, args in (
        (discriminator, "discriminator", d_formula, _REAL_ARG + _FAKE_ARG),
        (generator, "generator", g_formula, _FAKE_ARG),
    ):
        fn.__name__ = fn.__qualname__ = f"{prefix}_{role}_loss"
        fn.__doc__ = _FUNCTIONAL_DOC.format(title=title, role=role, formula=formula, name=name, args=args)
    return discriminator, generator


ns_gan_discriminator_loss, ns_gan_generator_loss = _functional_pair(
    "ns_gan", "ns-gan", "NS-GAN (Goodfellow et al., 2014)",
    "−E[log σ(f(x))] − E[log(1 − σ(f(g(z))))]", "−E[log σ(f(g(z)))], the non-saturating form")
ls_gan_discriminator_loss, ls_gan_generator_loss = _functional_pair(
    "ls_gan", "ls-gan", "LS-GAN (Mao et al., 2017a)", "E[(f(x) − 1)²] + E[f(g(z))²]", "E[(f(g(z)) − 1)²]")
ls_gan_zero_centered_discriminator_loss, ls_gan_zero_centered_generator_loss = _functional_pair(
    "ls_gan_zero_centered", "ls-gan#", "LS-GAN#, the zero-centered LS-GAN (Mao et al., 2017b; paper appendix D)",
    "E[(f(x) − 1)²] + E[(f(g(z)) + 1)²]", "E[(f(g(z)) − 1)²]")
wgan_discriminator_loss, wgan_generator_loss = _functional_pair(
    "wgan", "wgan", "WGAN (Arjovsky et al., 2017)",
    "E[f(g(z))] − E[f(x)] (ALP paper Eq. 26; Table 1 with f ↦ −f)", "−E[f(g(z))]")
cos_gan_discriminator_loss, cos_gan_generator_loss = _functional_pair(
    "cos_gan", "cos-gan", "COS-GAN", "−E[cos(f(x) − 1)] − E[cos(f(g(z)) + 1)]", "−E[cos(f(g(z)) − 1)]")
exp_gan_discriminator_loss, exp_gan_generator_loss = _functional_pair(
    "exp_gan", "exp-gan", "EXP-GAN", "E[exp(−f(x))] + E[exp(f(g(z)))] (Table 1 with f ↦ −f)", "E[exp(−f(g(z)))]")
