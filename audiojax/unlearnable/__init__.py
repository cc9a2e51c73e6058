"""Unlearnable audio: perturbations that make a data set teach a shortcut.

A data owner protects their clips before publishing them; a model trained on the
protected clips learns the perturbation's link to the label instead of the task and
fails on clean audio.

* :func:`poscuda` (Gokul & Dubnov, 2024): class-wise blur on short patches at
  positions the owner's key fixes; :func:`cuda` (Sadasivan et al., CVPR 2023): one
  class-wise blur over the whole clip, the baseline.
* :data:`PERTURBATIONS`: both by name, ``fn(x, y, key, **knobs) -> protected x``.
"""

from audiojax.registry import Registry
from audiojax.unlearnable.blur import UnlearnableError
from audiojax.unlearnable.cuda import cuda
from audiojax.unlearnable.poscuda import poscuda

PERTURBATIONS = Registry("unlearnable perturbation", {"cuda": cuda, "poscuda": poscuda})

__all__ = ["PERTURBATIONS", "UnlearnableError", "cuda", "poscuda"]
