"""A recurrent classifier over spectrogram frames (LSTM or GRU), as the PosCUDA
paper's recurrent baseline (Gokul & Dubnov, 2024) and the long line of LSTM audio
taggers before attention (e.g. Hochreiter & Schmidhuber, 1997; Graves et al., 2013).

Input ``[batch, frames, features]`` (log-mel or MFCC frames from the front end). A
LayerNorm over each frame's features makes the model indifferent to the input's
scale (dB or natural log), a Dense layer projects the frames, ``num_layers``
bidirectional recurrent layers (``flax.linen.RNN`` over ``LSTMCell`` or ``GRUCell``,
a ``lax.scan`` inside) read them, and the embedding is the mean of the last layer's
outputs over frames. The dropout and linear head, :meth:`Backbone.embed` and the
input check come from :mod:`audiojax.models.backbone`.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax

from audiojax.models.backbone import Backbone, apply_head, check_input

CELLS = {"lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell}


class RecurrentClassifier(Backbone):
  """Bidirectional LSTM/GRU over frames, mean-pooled.

  Attributes:
    num_classes: size of the logits.
    cell: ``"lstm"`` or ``"gru"``.
    hidden: units per direction of every recurrent layer.
    num_layers: stacked bidirectional layers.
    dropout_rate: dropout between recurrent layers and before the head (active only
      with ``train=True``).
  """

  cell: str = "lstm"
  hidden: int = 128
  num_layers: int = 2

  @nn.compact
  def __call__(
    self, x: jax.Array, *, train: bool = False, return_embedding: bool = False
  ) -> jax.Array:
    """Returns logits ``[batch, num_classes]`` (or the embedding, see :meth:`embed`).

    Args:
      x: frames ``[batch, frames, features]``.
      train: enables dropout (needs the ``"dropout"`` rng).
      return_embedding: return the pooled features instead of the logits.
    """
    check_input(x, 3, "[batch, frames, features]", "RecurrentClassifier")
    if self.cell not in CELLS:
      raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
    cell = CELLS[self.cell]
    h = nn.LayerNorm(name="input_norm")(x)
    h = nn.Dense(self.hidden, name="input_proj")(h)
    for i in range(self.num_layers):
      if i:
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
      h = nn.Bidirectional(
        nn.RNN(cell(self.hidden), name=f"forward{i}"),
        nn.RNN(cell(self.hidden), name=f"backward{i}"),
        name=f"layer{i}",
      )(h)
    embedding = h.mean(axis=1)
    return apply_head(self, embedding, train=train, return_embedding=return_embedding)


lstm = functools.partial(RecurrentClassifier, cell="lstm")
lstm_tiny = functools.partial(RecurrentClassifier, cell="lstm", hidden=8, num_layers=1)
gru = functools.partial(RecurrentClassifier, cell="gru")
gru_tiny = functools.partial(RecurrentClassifier, cell="gru", hidden=8, num_layers=1)
