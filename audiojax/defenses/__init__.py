"""Defenses against adversarial audio: adversarial training and input transforms.

* ``training``: the losses of PGD adversarial training (Madry et al., 2018), fast
  FGSM with a random start (Wong, Rice & Kolter, 2020) and TRADES (Zhang et al.,
  2019), as ``LossFn``s of the shared loop: the attack is a per-batch transform
  inside the loss, so there is no second training loop. A classifier config turns
  one on with ``config.adversarial.method``.
* ``transforms``: input transforms put in front of a model (codec re-encode,
  quantisation, low-pass, additive noise), each with the gradient an *adaptive*
  attacker uses through it (exact, or straight-through BPDA) and a flag saying
  whether it is random (so the attacker takes the expectation, EOT).
"""
