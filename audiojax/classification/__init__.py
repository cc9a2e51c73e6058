"""Supervised audio classification: data set x front end x model, the ``classifier``
experiment kind. The runner is :mod:`audiojax.classification.experiment`; the model
(:func:`audiojax.models.classifier.build_classifier`), loss
(:func:`audiojax.train.losses.classification_loss`) and evaluator
(:mod:`audiojax.evaluators.classification`) live with the building blocks, so other
systems use them without this runner.
"""
