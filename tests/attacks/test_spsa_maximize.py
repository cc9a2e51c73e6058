"""SPSA as a black-box ascent of any numpy objective."""

import numpy as np
import pytest

from audiojax.attacks.spsa import spsa_maximize

RNG = np.random.default_rng(0)
X = RNG.uniform(-0.5, 0.5, (4, 32)).astype(np.float32)
TARGET = RNG.uniform(-1, 1, (4, 32)).astype(np.float32)


def closeness(batch, index):
  """Minus the squared distance of each row to its own example's target."""
  return -np.sum((batch - TARGET[index]) ** 2, axis=1)


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 0.5)])
def test_spsa_maximize_climbs_a_numpy_objective_inside_its_budget(norm, eps):
  adv = spsa_maximize(closeness, X, eps=eps, steps=60, samples=8, norm=norm, seed=0)
  everyone = np.arange(len(X))
  assert np.all(closeness(adv, everyone) > closeness(X, everyone))
  delta = adv - X
  size = np.abs(delta).max(1) if norm == "linf" else np.sqrt((delta**2).sum(1))
  assert np.all(size <= eps * (1 + 1e-5)) and np.all(np.abs(adv) <= 1)
  if norm == "linf":  # samples farther than eps from their target move toward it
    far = np.abs(TARGET - X) > eps
    assert np.mean(np.sign(delta[far]) == np.sign((TARGET - X)[far])) > 0.9
  # Batching the objective's calls changes nothing.
  again = spsa_maximize(
    closeness, X, eps=eps, steps=60, samples=8, norm=norm, seed=0, max_batch=5
  )
  np.testing.assert_array_equal(again, adv)


def test_examples_that_are_done_stop_moving():
  even = lambda scores: np.arange(len(scores)) % 2 == 0
  adv = spsa_maximize(closeness, X, eps=0.1, steps=5, samples=4, done=even)
  np.testing.assert_array_equal(adv[::2], X[::2])
  assert np.all(np.abs(adv[1::2] - X[1::2]).max(1) > 0)
  calls = []

  def counted(batch, index):
    calls.append(len(batch))
    return closeness(batch, index)

  everyone_done = lambda scores: np.ones(len(scores), bool)
  out = spsa_maximize(counted, X, eps=0.1, steps=5, done=everyone_done)
  np.testing.assert_array_equal(out, X)
  assert calls == [len(X)]  # one look at the scores, then the loop ends
