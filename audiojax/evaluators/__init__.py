"""Evaluators: one registry of the things that judge a model, named by configs.

An experiment config lists its evaluators the way big_vision does::

  config.evals.validation = dict(type="classification", split="validation")
  config.evals.test = dict(type="classification", split="test")

and :func:`build` turns that into objects with ``name`` and ``run(params) -> {metric:
value}``, which the training loop runs every ``eval_every`` steps and at the end, and
which anyone can run on a restored run (:func:`audiojax.train.restore`)::

  run = train.restore(workdir)
  for ev in evaluators.build(run.config.evals, evaluators.Context.of(run)):
    print(ev.name, ev.run(run.params))

Each evaluator streams its split batch by batch into sums and counts and computes its
numbers once at the end (no mean of means), so padding and device count change
nothing. Entries are lazy: a classifier run never imports the generator's evaluator.
To add one: a class ``(name, context, **kwargs)`` with ``run(params)``, registered
below by its module path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

import jax
import ml_collections

from audiojax.registry import Registry


class Evaluator(Protocol):
  name: str

  def run(self, params: Any) -> Mapping[str, Any]: ...


EVALUATORS: Registry = Registry(
  "evaluator",
  {
    "classification": "audiojax.evaluators.classification:ClassificationEvaluator",
    "generation": "audiojax.evaluators.generation:GenerationEvaluator",
    "membership": "audiojax.evaluators.membership:MembershipEvaluator",
    "opt_out": "audiojax.evaluators.opt_out:OptOutEvaluator",
    "robust": "audiojax.evaluators.robust:RobustAccuracyEvaluator",
    "transcription": "audiojax.evaluators.transcription:TranscriptionEvaluator",
  },
)


@dataclasses.dataclass(frozen=True)
class Context:
  """What the evaluators of one run may use.

  Attributes:
    model: the run's model (what ``params`` are applied with).
    dataset: the run's ``config.dataset`` (which data set, config, data_dir).
    seed: the run's seed (evaluators that sample derive their keys from it).
    workdir: the run directory (for evaluators that read sibling runs, e.g. a probe).
    mesh: devices to evaluate on (None: all, data parallel).
  """

  model: Any
  dataset: ml_collections.ConfigDict
  seed: int
  workdir: str
  mesh: jax.sharding.Mesh | None = None

  @classmethod
  def of(cls, run: Any, mesh: jax.sharding.Mesh | None = None) -> Context:
    """The context of a restored run (:class:`audiojax.train.runs.Run`)."""
    c = run.config
    return cls(run.model, c.dataset, c.seed, run.workdir, mesh)


def build(evals: ml_collections.ConfigDict, context: Context) -> list[Evaluator]:
  """The evaluators ``config.evals`` names, in name order.

  Raises:
    UnknownNameError: for a ``type`` that is not registered (listing the valid ones).
    TypeError: for keyword arguments the evaluator does not take.
  """
  out = []
  for name, cfg in evals.items():
    kwargs = dict(cfg)
    kind = kwargs.pop("type")
    out.append(EVALUATORS.get(kind)(name, context, **kwargs))
  return out
