"""The ``membership`` evaluator on the session's tiny classifier run: the loss
attack between two splits, as the suite's ``loss_mia`` computes it."""

import ml_collections
import numpy as np
import optax

from audiojax import evaluators, train
from audiojax.data import pipeline
from audiojax.unlearning import metrics


def test_membership_evaluator_is_the_loss_attack(classifier_run):
  _, workdir, _ = classifier_run
  run = train.restore(workdir)
  evals = ml_collections.ConfigDict(
    {
      "same": dict(
        type="membership", members="train", nonmembers="train", batch_size=8
      ),
      "mia": dict(
        type="membership",
        members="train",
        nonmembers="test",
        batch_size=8,
        max_examples=20,
      ),
    }
  )
  mia, same = evaluators.build(evals, evaluators.Context.of(run))
  # Identical losses on both sides: the same loss means on either side.
  twin = same.run(run.params)
  assert twin["member_loss"] == twin["nonmember_loss"] and 0 <= twin["auc"] <= 1
  got = mia.run(run.params)
  losses = {}
  for role, split in mia.splits.items():
    out = []
    for batch in pipeline.eval_batches(split, 8):
      logits = run.model.apply(run.params, batch["audio"])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
      out.append(np.asarray(loss)[batch["mask"]])
    losses[role] = np.concatenate(out)[:20]
  want = metrics.loss_mia(losses["member"], losses["nonmember"])
  assert got["auc"] == want["auc"] and got["accuracy"] == want["accuracy"]
  np.testing.assert_allclose(got["member_loss"], losses["member"].mean(), rtol=1e-5)
