"""The unlearning method registry and its one entry point, :func:`unlearn`.

Every method is a :class:`Method`: a pure function ``fn(params, apply_fn, retain,
forget, key, *, task, **cfg) -> params``, the defaults of its options (its paper's,
said in its docstring) and the tasks it works on (:mod:`audiojax.unlearning.tasks`:
a classifier, or a conditional generator's denoising loss). :func:`unlearn` checks
the data and the options and calls it; it is traceable, so
``jax.vmap(lambda k: unlearn(..., k))(keys)`` runs one method over many seeds
(:mod:`audiojax.unlearning.many`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax

from audiojax.registry import Registry
from audiojax.unlearning.fit import UnlearningError, check_set
from audiojax.unlearning.tasks import CLASSIFICATION, Task


@dataclasses.dataclass(frozen=True)
class Method:
  """An unlearning method.

  Attributes:
    fn: ``(params, apply_fn, retain, forget, key, *, task, **cfg) -> params``.
    defaults: every option ``fn`` takes, with its default.
    required: options without a default (e.g. ``init_fn`` for retraining).
    tasks: the :class:`~audiojax.unlearning.tasks.Task` names it works on.
  """

  fn: Callable[..., Any]
  defaults: Mapping[str, Any]
  required: tuple[str, ...] = ()
  tasks: tuple[str, ...] = ("classification",)

  def options(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(cfg) - set(self.defaults) - set(self.required))
    if unknown:
      valid = sorted([*self.defaults, *self.required])
      raise UnlearningError(f"unknown options {unknown}; valid: {valid}")
    missing = [k for k in self.required if k not in cfg]
    if missing:
      raise UnlearningError(f"missing required options {missing}")
    return {**self.defaults, **cfg}


METHODS: Registry[Method] = Registry("unlearning method")


def methods_for(task: str) -> list[str]:
  """The names of the methods that work on ``task`` (e.g. ``"classification"``)."""
  return [name for name in METHODS if task in METHODS.get(name).tasks]


def method(
  name: str,
  required: tuple[str, ...] = (),
  tasks: tuple[str, ...] = ("classification",),
  **defaults,
):
  """Registers ``fn`` as the method ``name`` with its option defaults."""

  def decorator(fn):
    METHODS.register(name, Method(fn, dict(defaults), required, tasks))
    return fn

  return decorator


def unlearn(
  method_name: str,
  params: Any,
  apply_fn: Callable[..., jax.Array],
  retain: Mapping[str, Any],
  forget: Mapping[str, Any],
  key: jax.Array,
  *,
  task: Task = CLASSIFICATION,
  **cfg: Any,
) -> Any:
  """Makes a trained model forget ``forget`` while keeping ``retain``.

  Args:
    method_name: a name in :data:`METHODS`.
    params: the trained model's variables (what ``apply_fn`` takes).
    apply_fn: a classifier's ``(params, audio, train=False, rngs=...) -> logits``,
      or what ``task`` trains (a generator's ``(params, x_t, t, cond)``).
    retain: the data to keep, a dict of arrays holding ``task.fields``
      (classification: ``{"audio": [n_r, ...], "label": [n_r]}``).
    forget: the data to forget, the same fields.
    key: the run's randomness.
    task: what the model is (:data:`~audiojax.unlearning.tasks.CLASSIFICATION`, or
      :func:`audiojax.unlearning.denoising.denoising_task` for a generator).
    **cfg: the method's options (see ``METHODS.get(name).defaults``).

  Returns:
    The unlearned params, same structure as ``params``.
  """
  entry = METHODS.get(method_name)
  if task.name not in entry.tasks:
    raise UnlearningError(
      f"{method_name} works on {list(entry.tasks)}, not on the {task.name} task"
    )
  options = entry.options(cfg)
  retain = check_set("retain", retain, task.fields)
  forget = check_set("forget", forget, task.fields)
  return entry.fn(params, apply_fn, retain, forget, key, task=task, **options)
