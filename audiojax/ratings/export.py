"""Every vote of a ratings store as one CSV file (what a study publishes).

Columns are :data:`CSV_COLUMNS`; ``kind`` is "rating" or "comparison", and
``individual`` is that of ``clip_id`` (``clip_a`` of a comparison); cells a kind has
no value for are empty.
"""

from __future__ import annotations

import contextlib
import csv
import os
from typing import IO, Any

CSV_COLUMNS = (
  "kind rater_id generation clip_id individual rating clip_b individual_b winner"
  " created"
).split()

# One statement reads one snapshot, so the two kinds of votes are consistent. NULL
# where a kind has no value, so both engines agree on each column's type.
_SQL = (
  "SELECT 'rating', r.rater_id, c.generation, r.clip_id, c.individual, r.rating,"
  " NULL, NULL, NULL, r.created FROM ratings r JOIN clips c USING (clip_id)"
  " UNION ALL"
  " SELECT 'comparison', p.rater_id, a.generation, p.clip_a, a.individual, NULL,"
  " p.clip_b, b.individual, p.winner, p.created FROM comparisons p"
  " JOIN clips a ON a.clip_id=p.clip_a JOIN clips b ON b.clip_id=p.clip_b"
)


def export_csv(store: Any, path_or_file: str | os.PathLike | IO[str]) -> int:
  """Writes every rating and comparison of ``store`` (a
  :class:`~audiojax.ratings.store.RatingStore`) to a path or an open text file.

  Returns:
    The number of data rows written.
  """
  rows = store._query(_SQL)
  with contextlib.ExitStack() as stack:
    f = path_or_file
    if isinstance(path_or_file, str | os.PathLike):
      f = stack.enter_context(open(path_or_file, "w", newline="", encoding="utf-8"))
    writer = csv.writer(f)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
  return len(rows)
