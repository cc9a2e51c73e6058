"""Human ratings, with no JAX: the store, aggregation, simulated panels, the service.

* ``store`` / ``db`` / ``errors`` / ``backends``: clips, raters, stars and pairwise
  votes in one SQLite file (WAL) or on PostgreSQL (``postgresql://``, for several
  app replicas): durable, typed rejections, per-rater rate limit and per-address
  rater limit.
* ``votes`` / ``aggregate`` / ``bradley_terry`` / ``bootstrap``: votes to one score
  per item (z-scores, trimmed means, Bradley-Terry, rater weights, rater-bootstrap
  intervals).
* ``panel``: simulated raters with a hidden taste, for headless runs and tests.
* ``service`` / ``page``: what raters and admins can do, and the Gradio page over it.

Nothing here knows what is being rated: the human-in-the-loop GA
(:mod:`audiojax.evolve`) publishes clips and reads scores; any other system that needs
people's judgements (listening tests of attacks or unlearning) can do the same.
"""
