"""Adversarial attacks on audio models: pure JAX functions over a ``logits_fn``.

``fgsm(logits_fn, x, y, *, eps)`` and ``pgd(logits_fn, x, y, key, *, eps, step_size,
steps, norm="linf")`` are the contract; ``x`` is a waveform batch in [-1, 1] and
the result is clipped to [-1, 1]. Budgets are L-infinity or L2 balls, per example if
wanted (``budget.snr_radius`` turns an SNR in dB into an L2 radius). Modules:

* ``budget``: norms, projections, SNR radii, the valid range;
* ``losses``: CE, DLR, the Carlini-Wagner margin, a transcriber's frame BCE;
* ``gradient``: FGSM and PGD; ``apgd``: Auto-PGD (CE and DLR);
* ``minimal``: Carlini-Wagner L2 and DeepFool (minimum-norm, capped at a budget);
* ``spsa``: a score-based black box over a numpy ``scores_fn``, and
  ``spsa_maximize`` of any per-example numpy objective;
* ``universal``: one perturbation for a whole data set, and noise of its norm;
* ``suite``: ``ATTACKS``, every attack behind one calling convention.

Robust accuracy is the ``robust`` evaluator (``audiojax.evaluators``).
"""

from audiojax.attacks.gradient import fgsm, pgd
from audiojax.attacks.suite import ATTACKS

__all__ = ["ATTACKS", "fgsm", "pgd"]
