"""A trained spectrogram generator as one object: network, image layout, vocabulary.

:class:`Generator` is what sampling needs besides the params: the U-Net, the mel
image layout (:class:`~audiojax.generate.melimage.MelImageSpec`), the caption
vocabulary, the objective and the label names. Training builds it from the data
(:func:`from_data`), :func:`audiojax.train.restore` rebuilds it from the run's
``model.json`` (:func:`restorable`), and the two are equal, so a restored generator
samples what the trained one did, without the data set.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from audiojax.generate import diffusion, melimage, sampling
from audiojax.generate.captions import Vocabulary
from audiojax.generate.unet import GENERATORS, UNet, null_condition
from audiojax.train.runs import Run

CONDITIONS = "conditions.npz"  # The training split's conditions, saved with the run.


@dataclasses.dataclass(frozen=True, eq=False)
class Generator:
  """The generator of a ``music_generator`` config.

  Attributes:
    unet: the network ``(x_t, t, cond, adapter) -> prediction``.
    spec: the mel images it makes.
    vocab: its caption vocabulary (from the training split).
    objective: "flow" or "ddpm" (``diffusion.OBJECTIVES``).
    caption_length: token positions per caption.
    family_names, collection_names: label names (ids are shifted by +1; 0 = none).
  """

  unet: UNet
  spec: melimage.MelImageSpec
  vocab: Vocabulary
  objective: str
  caption_length: int
  family_names: tuple[str, ...]
  collection_names: tuple[str, ...]

  @classmethod
  def from_config(
    cls,
    config: ml_collections.ConfigDict,
    vocab: Vocabulary,
    family_names: tuple[str, ...],
    collection_names: tuple[str, ...],
  ) -> Generator:
    unet = GENERATORS.get(config.generator.name)(
      num_families=len(family_names) + 1,
      num_collections=len(collection_names) + 1,
      vocab_size=vocab.size,
      **config.generator.kwargs,
    )
    return cls(
      unet,
      melimage.MelImageSpec(**config.mel.to_dict()),
      vocab,
      config.objective,
      config.caption_length,
      tuple(family_names),
      tuple(collection_names),
    )

  def init(self, key: jax.Array) -> Any:
    example = jnp.zeros((1, *self.spec.image_shape))
    return self.unet.init(
      key, example, jnp.zeros((1,)), null_condition(1, self.caption_length)
    )

  def apply(self, params, x, t, cond, adapter=None, **kwargs):
    return self.unet.apply(params, x, t, cond, adapter=adapter, **kwargs)

  def sampler(
    self,
    config: ml_collections.ConfigDict | Mapping[str, Any],
    spec: melimage.MelImageSpec | None = None,
  ) -> sampling.Sampler:
    """A sampler with ``config``'s ``steps``, ``guidance`` and ``eta``, for images
    of ``spec`` (default: the training layout; more frames give longer clips)."""
    spec = spec or self.spec
    return sampling.Sampler(
      diffusion.OBJECTIVES.get(self.objective)(),
      lambda p, x, t, c, a: self.apply(p, x, t, c, adapter=a),
      spec.image_shape,
      steps=config["steps"],
      guidance=config["guidance"],
      eta=config["eta"],
      clip_x0=1.0,
    )

  def info(self) -> dict[str, Any]:
    """What :func:`restorable` rebuilds it from (``model.json``)."""
    return {
      "family_names": list(self.family_names),
      "collection_names": list(self.collection_names),
      "vocab": self.vocab.tokens,
    }


@dataclasses.dataclass(frozen=True)
class GeneratorRun(Run):
  """A restored generator run: :class:`~audiojax.train.runs.Run` plus sampling.

  Attributes:
    conditions: the training split's conditions ``{"family", "collection",
      "tokens"}`` (shifted ids), saved by the run: what a session conditions on.
  """

  conditions: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

  @property
  def spec(self) -> melimage.MelImageSpec:
    return self.model.spec

  @property
  def vocab(self) -> Vocabulary:
    return self.model.vocab

  def sample(
    self,
    cond: Mapping[str, Any],
    key: jax.Array,
    *,
    sampling_config: Mapping[str, Any] | None = None,
  ) -> jax.Array:
    """Images for ``cond`` (shifted ids) with the run's own sampling settings."""
    s = sampling_config or self.config.sampling
    cond = {k: jnp.asarray(v) for k, v in cond.items()}
    return self.model.sampler(s)(self.params, cond, key)


def save_conditions(workdir: str, conditions: Mapping[str, np.ndarray]) -> None:
  path = os.path.join(workdir, CONDITIONS)
  with open(path + ".tmp", "wb") as f:
    np.savez(f, **conditions)
  os.replace(path + ".tmp", path)


def restorable(config: ml_collections.ConfigDict, info: Mapping[str, Any]):
  """The generator of a ``music_generator`` run, its init, and the finishing step
  that makes the restored run a :class:`GeneratorRun`."""
  model = Generator.from_config(
    config,
    Vocabulary(info["vocab"]),
    tuple(info["family_names"]),
    tuple(info["collection_names"]),
  )

  def finish(run: Run) -> GeneratorRun:
    with np.load(os.path.join(run.workdir, CONDITIONS)) as z:
      conditions = {k: z[k] for k in z.files}
    fields = {f.name: getattr(run, f.name) for f in dataclasses.fields(Run)}
    return GeneratorRun(**fields, conditions=conditions)

  return model, model.init, finish
