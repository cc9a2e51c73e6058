"""The ``attacks`` experiment: the robustness tables of trained audio models.

``experiment.run`` trains (or restores) the classifiers it needs with the
``classifier`` runner, then fills one table per section (``sections``, ``channel``,
``transcription``, ``defended``) and draws the figures (``figures``).
"""
