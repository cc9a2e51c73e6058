"""Classifier models (flax.linen) and their registry.

Every entry of :data:`MODELS` is a constructor ``fn(num_classes, **kwargs) ->
nn.Module``; size variants are ``functools.partial`` of one module class, each with a
``_tiny`` sibling for tests. Modules are used purely functionally::

  model = MODELS.get("mel_cnn")(num_classes=10)
  params = model.init(key, x)["params"]        # a plain pytree, no batch stats
  logits = model.apply({"params": params}, x)
  logits = model.apply({"params": params}, x, train=True, rngs={"dropout": key})
  features = model.apply({"params": params}, x, method="embed")

Inputs: ``mel_cnn*``, ``patch_transformer*``, ``lstm*``, ``gru*`` and
``mel_transcriber*`` take log-mel (or MFCC) ``[batch, frames, n_mels]``; ``raw_m5*``
takes a waveform ``[batch, samples, 1]``; ``resnet1d_*`` any sequence
``[batch, length, channels]`` (an ECG lead from ``raw``, its spectrum from ``fft``).
Every model subclasses :class:`audiojax.models.backbone.Backbone`: ``embed`` returns
the input of one Dense ``params["head"]`` (with dropout before it in training) that
makes the logits. The classifiers give ``[batch, num_classes]``; the transcriber
keeps the frame axis, ``[batch, frames, num_classes]`` (one logit per pitch).
"""

from audiojax.models import cnn, raw1d, recurrent, resnet1d, transcriber, transformer
from audiojax.models.cnn import MelCNN, max_pool
from audiojax.models.raw1d import M5
from audiojax.models.recurrent import RecurrentClassifier
from audiojax.models.transcriber import MelTranscriber
from audiojax.models.transformer import PatchTransformer
from audiojax.registry import Registry

MODELS = Registry(
  "model",
  {
    "mel_cnn": cnn.mel_cnn,
    "mel_cnn_tiny": cnn.mel_cnn_tiny,
    "raw_m5": raw1d.raw_m5,
    "raw_m5_tiny": raw1d.raw_m5_tiny,
    "patch_transformer": transformer.patch_transformer,
    "patch_transformer_tiny": transformer.patch_transformer_tiny,
    "mel_transcriber": transcriber.mel_transcriber,
    "mel_transcriber_tiny": transcriber.mel_transcriber_tiny,
    "lstm": recurrent.lstm,
    "lstm_tiny": recurrent.lstm_tiny,
    "gru": recurrent.gru,
    "gru_tiny": recurrent.gru_tiny,
    "resnet1d_18": resnet1d.resnet1d_18,
    "resnet1d_18_tiny": resnet1d.resnet1d_18_tiny,
    "resnet1d_34": resnet1d.resnet1d_34,
    "resnet1d_34_tiny": resnet1d.resnet1d_34_tiny,
  },
)

__all__ = [
  "M5",
  "MODELS",
  "MelCNN",
  "MelTranscriber",
  "PatchTransformer",
  "RecurrentClassifier",
  "max_pool",
]
