"""Machine unlearning: one ``unlearn`` signature over a registry of methods, the
standard metrics, and many runs of a method over seeds.

``unlearn(method, params, apply_fn, retain, forget, key, **cfg) -> params``::

  from audiojax import unlearning
  new = unlearning.unlearn("salun", run.params, run.model.apply, retain, forget, key)

Methods (``METHODS``): ``retrain`` (the gold standard), ``finetune``, ``neggrad``,
``neggrad_plus``, ``random_labels``, ``l1_sparse``, ``salun`` (in ``methods.py``),
``scrub``, ``scrub_r`` (``scrub.py``), ``ssd`` (``ssd.py``) and, for a
generator, ``esd`` (``denoising.py``). A method names the tasks it works on: a
classifier (the default) or a conditional generator's denoising loss
(``unlearn(..., task=denoising_task(objective))``). Metrics (accuracies,
membership inference, LiRA, the NeurIPS 2023 forget score) are in ``metrics.py``;
``many.over_seeds`` runs a method over many seeds on the device mesh.
"""

from audiojax.unlearning import denoising, methods, scrub, ssd  # noqa: F401
from audiojax.unlearning.base import METHODS, Method, methods_for, unlearn
from audiojax.unlearning.denoising import denoising_task
from audiojax.unlearning.fit import UnlearningError

__all__ = [
  "METHODS",
  "Method",
  "UnlearningError",
  "denoising_task",
  "methods_for",
  "unlearn",
]
