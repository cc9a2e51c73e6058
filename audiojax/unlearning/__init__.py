"""Machine unlearning: one ``unlearn`` signature over a registry of methods, the
standard metrics, and many runs of a method over seeds.

``unlearn(method, params, apply_fn, retain, forget, key, **cfg) -> params``::

  from audiojax import unlearning
  new = unlearning.unlearn("salun", run.params, run.model.apply, retain, forget, key)

Methods (``METHODS``): ``retrain`` (the gold standard), ``finetune``, ``neggrad``,
``neggrad_plus``, ``random_labels``, ``l1_sparse``, ``salun`` (in ``methods.py``),
``scrub``, ``scrub_r`` (``scrub.py``) and ``ssd`` (``ssd.py``). Metrics (accuracies,
membership inference, LiRA, the NeurIPS 2023 forget score) are in ``metrics.py``;
``many.over_seeds`` runs a method over many seeds on the device mesh.
"""

from audiojax.unlearning import methods, scrub, ssd  # noqa: F401  (fill METHODS)
from audiojax.unlearning.base import METHODS, Method, unlearn
from audiojax.unlearning.fit import UnlearningError

__all__ = ["METHODS", "Method", "UnlearningError", "unlearn"]
