"""What the classifier backbones share: the base class, the head and the input check.

:class:`~audiojax.models.cnn.MelCNN`, :class:`~audiojax.models.raw1d.M5` and
:class:`~audiojax.models.transformer.PatchTransformer` differ only in how they turn
an input into an embedding; all of them end in dropout and one linear layer named
``"head"`` at the top level of the params, and expose the embedding through
:meth:`Backbone.embed`. Keeping that tail in one place keeps it the same in every
model: the head is always ``params["head"]``, and the embedding is always its input.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def check_input(x: jax.Array, rank: int, layout: str, model: str) -> None:
  """Raises ValueError unless ``x`` is a float array of the given rank."""
  if x.ndim != rank or not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(
      f"{model} expects a float {layout} array, got {x.dtype} of shape {x.shape}"
    )


class Backbone(nn.Module):
  """Base of the classifiers: ``num_classes`` logits from a pooled embedding.

  A subclass defines one ``@nn.compact`` method ``__call__(x, *, train=False,
  return_embedding=False)`` that computes the embedding and ends with
  ``return apply_head(self, embedding, train=train,
  return_embedding=return_embedding)``.

  Flax puts these fields before the subclass's own, so subclasses are built with
  keyword arguments (only ``num_classes`` is safe to pass positionally).

  Attributes:
    num_classes: size of the logits.
    dropout_rate: dropout before the head, active only with ``train=True``
      (subclasses may use it elsewhere too, and may change the default).
  """

  num_classes: int
  dropout_rate: float = 0.2

  def embed(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    """The embedding ``[batch, features]``: the head's input, before its dropout."""
    return self(x, train=train, return_embedding=True)


def apply_head(
  module: Backbone,
  embedding: jax.Array,
  *,
  train: bool,
  return_embedding: bool = False,
) -> jax.Array:
  """Dropout and the linear head ``"head"`` on ``embedding``, or ``embedding`` as is.

  Call it only from ``module``'s compact ``__call__``: flax attaches the Dropout and
  Dense created here to the module whose compact method is running, so the Dense is
  ``params["head"]`` of that module and the Dropout takes the next auto-name
  (``Dropout_<n>``) and dropout rng, exactly as if written inline.

  Args:
    module: the calling backbone (for ``num_classes`` and ``dropout_rate``).
    embedding: ``[batch, features]``.
    train: enables dropout (needs the ``"dropout"`` rng).
    return_embedding: return ``embedding`` unchanged and create no head.

  Returns:
    logits ``[batch, num_classes]``, or ``embedding``.
  """
  if return_embedding:
    return embedding
  h = nn.Dropout(module.dropout_rate, deterministic=not train)(embedding)
  return nn.Dense(module.num_classes, name="head")(h)
