"""The one training loop every experiment shares, and the way back to a trained run.

``loop`` (resume, step, log, evaluate, checkpoint), ``state`` / ``steps`` (the pure
jitted step), ``optim`` (the optimizer a config describes), ``losses`` (weighted
per-example losses), ``metrics`` (sums and counts), ``checkpoint`` (orbax),
``writer`` / ``report`` (what a run leaves on disk) and ``runs``:
``audiojax.train.restore(workdir)`` loads any trained run's config, model and params.
"""

from audiojax.train.runs import Run, restore

__all__ = ["Run", "restore"]
