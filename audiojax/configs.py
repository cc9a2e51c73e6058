"""Helpers for experiment configs (``experiments/NAME.py: get_config(arg)``).

A config file takes its variants after the colon, comma-separated, as big_vision's
``--config=x.py:runlocal,tiny`` does; :func:`parse_variants` checks them against the
variants the file knows, so a typo fails with the list of valid ones.
"""

from __future__ import annotations

from collections.abc import Iterable


class UnknownVariantError(ValueError):
  """A config variant the config file does not define."""


def parse_variants(arg: str | None, valid: Iterable[str]) -> frozenset[str]:
  """The variants in ``arg`` ("runlocal,tiny"), each checked against ``valid``.

  Raises:
    UnknownVariantError: naming the unknown variants and the valid ones.
  """
  valid = frozenset(valid)
  variants = frozenset(v.strip() for v in (arg or "").split(",") if v.strip())
  unknown = variants - valid
  if unknown:
    raise UnknownVariantError(
      f"unknown config variants {sorted(unknown)}; valid: {', '.join(sorted(valid))}"
    )
  return variants


def check_sections(sections: Iterable[str], valid: Iterable[str]) -> None:
  """Raises ValueError naming the sections of a sectioned runner that do not exist."""
  unknown = set(sections) - set(valid)
  if unknown:
    raise ValueError(f"unknown sections {sorted(unknown)}; valid: {list(valid)}")
