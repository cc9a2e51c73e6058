"""The ratings store: typed rejections that change nothing, rate limits, concurrency,
durability under SIGKILL, fair clip scheduling and CSV export, on both backends
(a SQLite file and a PostgreSQL server, ``conftest.py``)."""

import csv
import io
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from audiojax.ratings import db as D
from audiojax.ratings import errors as E
from audiojax.ratings import export
from audiojax.ratings import store as R

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def store(new_target):
  s = R.RatingStore(new_target("votes"), max_per_minute=30)
  for g in (0, 1):
    for i in range(4):
      s.add_clip(f"g{g}i{i}", g, i, 10 + i, f"/clips/g{g}i{i}.wav")
  yield s
  s.close()


def _snapshot(s):
  return s.ratings(), s.comparisons(), s.raters(), s.counts_per_clip(0)


def test_schema_is_wal_versioned_and_reopens_idempotently(tmp_path):
  path = tmp_path / "v.db"
  with R.RatingStore(path) as s:
    s.add_clip("a", 0, 0, 1, "a.wav")
    s.rate("ann", "a", 4, now=5.0)
    s.set_meta("generation", "0")
  raw = sqlite3.connect(path)
  assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
  assert raw.execute("PRAGMA user_version").fetchone()[0] == D.SCHEMA_VERSION
  raw.close()
  with R.RatingStore(path) as s:  # Second open: same schema, data kept.
    assert s.ratings() == [D.Rating(1, "ann", "a", 4, 5.0, 0, 0)]
    assert s.get_meta("generation") == "0" and s.get_meta("missing", "x") == "x"
    assert s.add_clip("a", 0, 0, 1, "a.wav").created == s.clips(0)[0].created
  raw = sqlite3.connect(path)
  raw.execute(f"PRAGMA user_version={D.SCHEMA_VERSION + 1}")
  raw.close()
  with pytest.raises(E.RatingError, match=f"schema version {D.SCHEMA_VERSION + 1}"):
    R.RatingStore(path)


def test_votes_are_stored_with_their_generation_and_individual(store):
  r = store.rate("  ann ", "g0i2", 4.0, now=1.0)  # Id trimmed, integral float accepted.
  assert r == D.Rating(r.id, "ann", "g0i2", 4, 1.0, 0, 2)
  assert type(r.rating) is int
  store.rate("bob", "g1i0", np.int64(2), now=2.0)
  c = store.compare("ann", "g0i3", "g0i1", "g0i3", now=3.0)
  assert (c.clip_a, c.clip_b, c.winner, c.individual_a, c.individual_b) == (
    "g0i1", "g0i3", "g0i3", 1, 3,
  )  # fmt: skip
  assert [x.clip_id for x in store.ratings(0)] == ["g0i2"]
  assert [x.clip_id for x in store.ratings()] == ["g0i2", "g1i0"]
  assert store.comparisons(1) == [] and store.comparisons(0) == [c]
  assert store.counts_per_clip(0) == {"g0i0": 0, "g0i1": 0, "g0i2": 1, "g0i3": 0}
  assert [x.rater_id for x in store.raters()] == ["ann", "bob"]
  assert [x.individual for x in store.clips(1)] == [0, 1, 2, 3]


BAD_VOTES = [
  (E.UnknownClip, "'nope'", lambda s: s.rate("ann", "nope", 3)),
  (E.UnknownClip, "None", lambda s: s.rate("ann", None, 3)),
  (E.InvalidRating, "3.5", lambda s: s.rate("ann", "g0i0", 3.5)),
  (E.InvalidRating, "True", lambda s: s.rate("ann", "g0i0", True)),
  (E.InvalidRating, "'4'", lambda s: s.rate("ann", "g0i0", "4")),
  (E.InvalidRating, "nan", lambda s: s.rate("ann", "g0i0", math.nan)),
  (E.InvalidRating, "6", lambda s: s.rate("ann", "g0i0", 6)),
  (E.InvalidRating, "0", lambda s: s.rate("ann", "g0i0", 0)),
  (E.DuplicateVote, "'g0i1'", lambda s: s.rate("old", "g0i1", 5)),
  (E.InvalidRater, "'   '", lambda s: s.rate("   ", "g0i0", 3)),
  (E.InvalidRater, "'" + "x" * 65, lambda s: s.rate("x" * 65, "g0i0", 3)),
  (E.InvalidRater, "'a\\nb'", lambda s: s.rate("a\nb", "g0i0", 3)),
  (E.InvalidRater, "'a\\u200bb'", lambda s: s.rate("a\u200bb", "g0i0", 3)),
  (E.InvalidRater, "42", lambda s: s.rate(42, "g0i0", 3)),
  (E.InvalidRating, "'g0i0'", lambda s: s.compare("ann", "g0i0", "g0i0", "g0i0")),
  (E.InvalidRating, "'g0i2'", lambda s: s.compare("ann", "g0i0", "g0i1", "g0i2")),
  (E.InvalidRating, "generation 1", lambda s: s.compare("ann", "g0i0", "g1i1", "g0i0")),
  (E.DuplicateVote, "'g0i2'", lambda s: s.compare("old", "g0i2", "g0i1", "g0i2")),
  (E.InvalidClip, "'g0i0'", lambda s: s.add_clip("g0i0", 0, 1, 10, "x.wav")),
  (E.InvalidClip, "-1", lambda s: s.add_clip("new", -1, 0, 0, "x.wav")),
  (E.InvalidClip, "1.5", lambda s: s.add_clip("new", 0, 1.5, 0, "x.wav")),
]


@pytest.mark.parametrize("error,offender,call", BAD_VOTES)
def test_bad_input_raises_a_typed_error_naming_it_and_changes_nothing(
  store, error, offender, call
):
  store.rate("old", "g0i1", 2, now=0.0)
  store.compare("old", "g0i1", "g0i2", "g0i1", now=0.0)
  before = _snapshot(store), store.clips(0)
  with pytest.raises(error) as info:
    call(store)
  assert isinstance(info.value, E.RatingError) and isinstance(info.value, ValueError)
  assert offender in str(info.value)
  assert (_snapshot(store), store.clips(0)) == before


def test_schema_is_versioned_and_reopens_idempotently(new_target):
  target = new_target("v")
  with R.RatingStore(target) as s:
    s.add_clip("a", 0, 0, 1, "a.wav")
    s.rate("ann", "a", 4, now=5.0)
    s.set_meta("generation", "0")
    s.set_meta("generation", "1")  # An update, not a second row.
  with R.RatingStore(target) as s:  # Second open: same schema, data kept.
    assert s.ratings() == [D.Rating(1, "ann", "a", 4, 5.0, 0, 0)]
    assert s.get_meta("generation") == "1"
    assert s.add_clip("a", 0, 0, 1, "a.wav").created == s.clips(0)[0].created
    if s.kind == "postgresql":
      with s._write() as db:
        db.execute(
          "UPDATE meta SET value=? WHERE key='schema_version'",
          (str(D.SCHEMA_VERSION + 1),),
        )
  if target.startswith("postgresql"):
    with pytest.raises(E.RatingError, match=f"schema version {D.SCHEMA_VERSION + 1}"):
      R.RatingStore(target)


def test_the_database_itself_refuses_a_repeated_vote(store):
  """Unique votes are a constraint of the tables, not only a check in Python: a
  second row for the same rater and clip, written by any client, is refused."""
  store.rate("ann", "g0i0", 3, now=1.0)
  insert = (
    "INSERT INTO ratings (rater_id, clip_id, rating, created) VALUES (?, ?, ?, ?)"
  )
  with pytest.raises(store._integrity_errors), store._write() as db:
    db.execute(insert, ("ann", "g0i0", 5, 2.0))
  with pytest.raises(store._integrity_errors), store._write() as db:
    db.execute(insert, ("ann", "g0i1", 9, 2.0))  # stars outside 1..5
  assert [(r.rater_id, r.rating) for r in store.ratings()] == [("ann", 3)]


def test_unknown_store_urls_are_refused():
  with pytest.raises(E.RatingError, match="mysql"):
    R.RatingStore("mysql://user@host/db")
  with pytest.raises(E.RatingError, match="cannot connect"):
    R.RatingStore("postgresql://nobody@127.0.0.1:1/none", busy_timeout=1.0)


def test_sliding_window_rate_limit_counts_ratings_and_comparisons(new_target):
  with R.RatingStore(new_target("l"), max_per_minute=5) as s:
    for i in range(8):
      s.add_clip(f"c{i}", 0, i, 0, "f")
    s.compare("ann", "c6", "c7", "c6", now=100.0)
    for i, t in enumerate([110.0, 120.0, 130.0, 140.0]):
      s.rate("ann", f"c{i}", 3, now=t)
    s.rate("bob", "c0", 3, now=141.0)  # Limits are per rater.
    with pytest.raises(E.RateLimited, match=r"'ann' cast 5 votes.*retry in 19 s"):
      s.rate("ann", "c4", 3, now=141.0)
    with pytest.raises(E.RateLimited):
      s.compare("ann", "c4", "c5", "c4", now=159.5)  # Window (99.5, 159.5]: 5.
    assert len(s.ratings()) == 5 and len(s.comparisons()) == 1
    s.rate("ann", "c4", 3, now=160.001)  # The vote at t=100 left the window.
    with pytest.raises(E.RateLimited):
      s.rate("ann", "c5", 3, now=169.0)
    assert [r.clip_id for r in s.ratings() if r.rater_id == "ann"][-1] == "c4"


def test_flagged_raters_are_blocked_until_unflagged(store):
  store.rate("spam", "g0i0", 5, now=0.0)
  store.flag_rater("spam", "constant ratings")
  with pytest.raises(E.InvalidRater, match="'spam' is blocked: constant ratings"):
    store.rate("spam", "g0i1", 5, now=1.0)
  assert store.raters()[0].flagged == "constant ratings"
  store.flag_rater("spam", None)
  assert store.rate("spam", "g0i1", 5, now=2.0).rating == 5


def test_next_clip_prefers_the_least_rated_and_is_deterministic(store):
  counts = {"g0i0": 2, "g0i1": 0, "g0i2": 1, "g0i3": 0}
  for clip, n in counts.items():
    for k in range(n):
      store.rate(f"other{k}", clip, 3, now=0.0)
  first = store.next_clip_for("ann", 0)
  assert first.clip_id in ("g0i1", "g0i3") and first.generation == 0
  assert store.next_clip_for("ann", 0) == first
  # Ties are broken per rater, so a crowd does not all start on the same clip.
  picks = {store.next_clip_for(f"r{k}", 0).clip_id for k in range(20)}
  assert picks == {"g0i1", "g0i3"}
  seen = []
  while (clip := store.next_clip_for("ann", 0)) is not None:
    seen.append(clip.clip_id)
    store.rate("ann", clip.clip_id, 4, now=float(len(seen)))
  assert set(seen[:2]) == {"g0i1", "g0i3"} and seen[2:] == ["g0i2", "g0i0"]
  assert store.next_clip_for("ann", 1).generation == 1
  assert store.next_clip_for("ann", 7) is None


def test_export_csv_has_every_vote_with_generation_and_individual(store, tmp_path):
  store.rate("ann", "g0i2", 4, now=1.5)
  store.rate("bob", "g1i3", 1, now=2.5)
  store.compare("ann", "g1i1", "g1i0", "g1i1", now=3.5)
  buf = io.StringIO()
  assert store.export_csv(buf) == 3
  rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
  assert list(rows[0]) == export.CSV_COLUMNS
  assert [(r["kind"], r["generation"], r["individual"], r["rating"]) for r in rows] == [
    ("rating", "0", "2", "4"),
    ("rating", "1", "3", "1"),
    ("comparison", "1", "0", ""),
  ]
  assert (rows[2]["clip_b"], rows[2]["individual_b"], rows[2]["winner"]) == (
    "g1i1", "1", "g1i1",
  )  # fmt: skip
  assert float(rows[1]["created"]) == 2.5
  path = tmp_path / "out.csv"
  store.export_csv(path)
  assert path.read_bytes() == buf.getvalue().encode("utf-8")


def test_32_threads_rating_at_once_lose_nothing(new_target):
  s = R.RatingStore(new_target("c"), max_per_minute=1000)
  for i in range(50):
    s.add_clip(f"c{i:02d}", 0, i % 10, i, f"{i}.wav")
  errors, latency = [], []
  start = threading.Barrier(32)

  def rater(k):
    start.wait()
    try:
      for i in range(50):
        t = time.perf_counter()
        s.rate(f"r{k:02d}", f"c{(i + k) % 50:02d}", 1 + (i * k) % 5)
        latency.append(time.perf_counter() - t)
    except Exception as e:  # noqa: BLE001 -- surfaced by the assert below.
      errors.append(e)

  threads = [threading.Thread(target=rater, args=(k,)) for k in range(32)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert errors == []
  rows = s.ratings()
  assert len(rows) == 1600 and len({(r.rater_id, r.clip_id) for r in rows}) == 1600
  assert set(s.counts_per_clip(0).values()) == {32}
  assert sorted(r.id for r in rows) == list(range(1, 1601))
  assert {(r.rater_id, r.rating) for r in rows if r.clip_id == "c07"} == {
    (f"r{k:02d}", 1 + ((7 - k) % 50 * k) % 5) for k in range(32)
  }
  assert np.percentile(latency, 50) < 1.0  # Seconds; typically a few ms.
  s.close()


_WRITER = """
import sys
from audiojax.ratings.store import RatingStore
s = RatingStore(sys.argv[1], max_per_minute=10**6)
for i in range(100000):
  s.rate(f"r{i % 7}", f"c{i // 7}", 1 + i % 5)
  print(i, flush=True)
"""


def test_sigkill_loses_no_acknowledged_rating(new_target):
  path = new_target("k")
  with R.RatingStore(path) as s:
    for i in range(2000):
      s.add_clip(f"c{i}", 0, i % 8, i, "f")
  child = subprocess.Popen(
    [sys.executable, "-c", textwrap.dedent(_WRITER), str(path)],
    stdout=subprocess.PIPE,
    text=True,
    cwd=ROOT,
    env={**os.environ, "PYTHONPATH": ROOT},
  )
  reader = R.RatingStore(path)  # A second process reads while the child writes.
  seen, acked = [], -1
  for line in child.stdout:
    acked = int(line)
    if acked % 50 == 0:
      seen.append(len(reader.ratings()))
    if acked >= 300:
      break
  child.send_signal(signal.SIGKILL)
  child.wait()
  child.stdout.close()
  assert child.returncode == -signal.SIGKILL
  assert seen == sorted(seen) and seen[-1] >= 301
  reader.close()
  with R.RatingStore(path) as s:
    got = {(r.rater_id, r.clip_id, r.rating) for r in s.ratings()}
  want = {(f"r{i % 7}", f"c{i // 7}", 1 + i % 5) for i in range(acked + 1)}
  assert want <= got and len(got) >= acked + 1
  if not path.startswith("postgresql"):
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()


def test_one_address_cannot_vote_under_more_rater_ids_than_allowed(new_target):
  s = R.RatingStore(new_target("a"), max_raters_per_address=2)
  for i in range(6):
    s.add_clip(f"c{i}", i // 3, 0, i, "f")  # c0..c2 generation 0, c3..c5 generation 1.
  s.rate("ann", "c0", 3, address="10.0.0.1")
  s.rate("bob", "c0", 4, address="10.0.0.1")
  s.rate("ann", "c1", 5, address="10.0.0.1")  # A known rater of this address: fine.
  with pytest.raises(E.AddressLimited, match=r"10\.0\.0\.1 .* 2 other rater"):
    s.rate("cat", "c1", 2, address="10.0.0.1")
  with pytest.raises(E.AddressLimited, match="limit 2 raters per address"):
    s.compare("cat", "c1", "c2", "c1", address="10.0.0.1")
  assert len(s.ratings()) == 3 and not s.comparisons()  # Nothing stored.
  s.rate("cat", "c1", 2, address="10.0.0.2")  # Another address.
  s.rate("cat", "c3", 2, address="10.0.0.1")  # The next generation starts afresh.
  s.rate("dan", "c2", 1)  # No address (a local caller): not limited.
  assert len(s.ratings()) == 6
  addresses = s._query("SELECT rater_id, address FROM ratings ORDER BY id")
  assert [a for _, a in addresses][-3:] == ["10.0.0.2", "10.0.0.1", None]
  with pytest.raises(E.InvalidRater, match="client address"):
    s.rate("eve", "c0", 1, address="")
  s.close()


def test_version_1_file_is_migrated_and_keeps_its_votes(tmp_path):
  path = tmp_path / "v1.db"
  raw = sqlite3.connect(path)
  raw.executescript(
    """
    CREATE TABLE raters (rater_id TEXT PRIMARY KEY, created REAL NOT NULL,
      weight REAL NOT NULL DEFAULT 1, flagged TEXT NULL);
    CREATE TABLE clips (clip_id TEXT PRIMARY KEY, generation INTEGER NOT NULL,
      individual INTEGER NOT NULL, seed INTEGER NOT NULL, file TEXT NOT NULL,
      created REAL NOT NULL);
    CREATE TABLE ratings (id INTEGER PRIMARY KEY, rater_id TEXT NOT NULL,
      clip_id TEXT NOT NULL, rating INTEGER NOT NULL, created REAL NOT NULL,
      UNIQUE (rater_id, clip_id));
    CREATE TABLE comparisons (id INTEGER PRIMARY KEY, rater_id TEXT NOT NULL,
      clip_a TEXT NOT NULL, clip_b TEXT NOT NULL, winner TEXT NOT NULL,
      created REAL NOT NULL, UNIQUE (rater_id, clip_a, clip_b));
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO raters VALUES ('ann', 1.0, 1, NULL);
    INSERT INTO clips VALUES ('c0', 0, 0, 0, 'f', 1.0), ('c1', 0, 1, 0, 'f', 1.0);
    INSERT INTO ratings VALUES (1, 'ann', 'c0', 4, 2.0);
    PRAGMA user_version=1;
    """
  )
  raw.close()
  with R.RatingStore(path, max_raters_per_address=1) as s:
    assert [(r.rater_id, r.clip_id, r.rating) for r in s.ratings()] == [
      ("ann", "c0", 4)
    ]
    s.rate("bob", "c1", 2, address="::1")
  raw = sqlite3.connect(path)
  assert raw.execute("PRAGMA user_version").fetchone()[0] == D.SCHEMA_VERSION
  assert raw.execute("SELECT address FROM ratings ORDER BY id").fetchall() == [
    (None,),
    ("::1",),
  ]
  raw.close()


def test_a_session_config_names_its_store(new_target, tmp_path):
  import ml_collections

  ratings = ml_collections.ConfigDict(
    dict(db=new_target("cfg"), max_per_minute=5, max_raters_per_address=0)
  )
  with R.RatingStore.from_config(tmp_path / "unused.sqlite", ratings) as s:
    s.add_clip("a", 0, 0, 1, "a.wav")
    assert s.kind == ("postgresql" if ratings.db.startswith("postgresql") else "sqlite")
  assert not (tmp_path / "unused.sqlite").exists()
  ratings.db = ""
  with R.RatingStore.from_config(tmp_path / "used.sqlite", ratings) as s:
    assert s.max_per_minute == 5
  assert (tmp_path / "used.sqlite").exists()
