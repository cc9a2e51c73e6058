"""The ``attacks`` experiment: the robustness tables of trained audio models.

``experiment.run`` trains (or restores) the classifiers it needs with the
``classifier`` runner, then fills one table per section (``sections``, ``channel``,
``transcription``, ``defended``) and draws the figures (``figures``).
"""

# Every table the runner can fill, in the order it fills them (``config.sections``).
SECTIONS = (
  "robust",
  "transfer",
  "codecs",
  "over_the_air",
  "universal",
  "transcription",
  "defenses",
  "masking",
)
