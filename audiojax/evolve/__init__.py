"""Human-in-the-loop evolution of the music generator.

Genome, GA, ratings, raters, session.
"""
