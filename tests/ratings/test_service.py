"""The rating service: bad requests change nothing, progress, admin, pairs."""

import threading

import pytest

from audiojax.ratings import service as service_lib
from audiojax.ratings.errors import (
  DuplicateVote,
  InvalidRater,
  InvalidRating,
  RatingError,
  UnknownClip,
)
from audiojax.ratings.page import progress_report
from audiojax.ratings.service import (
  AdminError,
  ClosedGeneration,
  NotReady,
  RatingService,
)
from audiojax.ratings.store import RatingStore


@pytest.fixture
def service(tmp_path, new_target):
  store = RatingStore(new_target("ratings"), max_per_minute=1000)
  for g in (0, 1):
    for i in range(3):
      for s in range(2):
        cid = f"g{g:03d}-i{i:02d}-s{s}"
        store.add_clip(cid, g, i, s, str(tmp_path / f"{cid}.wav"))
  store.set_meta(service_lib.META_GENERATION, "1")
  yield RatingService(
    store, 2, admin_token="sesame", export_dir=str(tmp_path / "exports")
  )
  store.close()


def _votes(service):
  return [tuple(r) for r in service.store.ratings()], service.store.comparisons()


@pytest.mark.parametrize(
  "args, error, match",
  [
    (("ann", "g001-i09-s0", 3), UnknownClip, "unknown clip"),
    (("ann", "../../etc/passwd", 3), UnknownClip, "unknown clip"),
    (("ann", "g001-i00-s0/../../x", 3), UnknownClip, "unknown clip"),
    (("ann", None, 3), UnknownClip, "unknown clip"),
    (("ann", "g001-i00-s0", 0), InvalidRating, "1..5"),
    (("ann", "g001-i00-s0", 6), InvalidRating, "1..5"),
    (("ann", "g001-i00-s0", 3.5), InvalidRating, "integer"),
    (("ann", "g001-i00-s0", "5"), InvalidRating, "integer"),
    (("", "g001-i00-s0", 3), InvalidRater, "rater id"),
    (("ann\x00", "g001-i00-s0", 3), InvalidRater, "control"),
    (("ann", "g000-i00-s0", 3), ClosedGeneration, "generation 0, which is closed"),
  ],
)
def test_bad_ratings_are_refused_and_change_nothing(service, args, error, match):
  before = _votes(service)
  with pytest.raises(error, match=match):
    service.rate(*args)
  assert _votes(service) == before


def test_second_vote_is_refused(service):
  assert "4 stars" in service.rate("ann", "g001-i00-s0", 4)
  before = _votes(service)
  with pytest.raises(DuplicateVote):
    service.rate("ann", "g001-i00-s0", 2)
  assert _votes(service) == before


def test_admin_needs_the_token(service, tmp_path):
  before = {k: service.store.get_meta(k) for k in ("paused", "advance_generation")}
  for token in ("", "sesam", None, "sesame\n"):
    with pytest.raises(AdminError, match="wrong admin token"):
      service.admin(token, "pause")
  with pytest.raises(AdminError, match="unknown admin action"):
    service.admin("sesame", "drop_tables")
  assert {k: service.store.get_meta(k) for k in before} == before
  no_admin = RatingService(service.store, 2, admin_token=None, export_dir=str(tmp_path))
  with pytest.raises(AdminError, match="disabled"):
    no_admin.admin("sesame", "advance")

  assert "paused" in service.admin("sesame", "pause")
  with pytest.raises(NotReady, match="paused"):
    service.next_clip("ann")
  with pytest.raises(NotReady, match="paused"):
    service.rate("ann", "g001-i00-s0", 3)
  service.admin("sesame", "resume")
  service.rate("ann", "g001-i00-s0", 3)
  service.admin("sesame", "advance")
  assert service.store.get_meta(service_lib.META_ADVANCE) == "1"
  path = service.admin("sesame", "export")
  assert open(path).read().count("\n") == 2  # Header + the one rating.


def test_next_clip_serves_the_current_generation_least_rated_first(service):
  seen = set()
  for _ in range(6):
    path, clip_id = service.next_clip("bob")
    assert clip_id.startswith("g001-") and path.endswith(f"{clip_id}.wav")
    service.rate("bob", clip_id, 3)
    seen.add(clip_id)
  assert len(seen) == 6
  with pytest.raises(NotReady, match="rated every clip"):
    service.next_clip("bob")
  _, first = service.next_clip("cat")
  assert first in seen  # All have one rating now; any is least rated.


def test_pairs_compare_clips_of_the_same_noise(service):
  a_file, b_file, a, b = service.next_pair("dan")
  assert a.rsplit("-", 1)[1] == b.rsplit("-", 1)[1] and a != b
  assert "preferred" in service.compare("dan", a, b, b)
  with pytest.raises(InvalidRating, match="neither"):
    service.compare("dan", a, b, "g001-i02-s1")
  with pytest.raises(RatingError):
    service.compare("dan", a, b, a)  # The same pair again.
  assert len(service.store.comparisons()) == 1


def test_progress_panel_reports_generation_votes_and_the_rating_curve(service):
  service.store.rate("ann", "g000-i00-s0", 2)  # Generation 0, before it closed.
  service.store.rate("bob", "g000-i01-s0", 4)
  service.store.rate("ann", "g000-i02-s0", 5)  # Individual 2 = P: the base, left out.
  service.rate("ann", "g001-i00-s0", 5)
  text, curve = progress_report(service.status())
  assert "**Generation 1** (render): 6 clips, 1 ratings, at least 0 per clip." in text
  assert "| 0 | 3.00 |" in text and "| 1 | 5.00 |" in text
  assert curve.to_dict("list") == {"generation": [0, 1], "mean rating": [3.0, 5.0]}
  service.store.set_meta(service_lib.META_GENERATION, "2")
  text, curve = progress_report(service.status())
  assert "| 2 | - |" in text and list(curve["generation"]) == [0, 1]


def test_every_rater_request_says_what_the_server_still_prepares(service):
  service.progress = service_lib.Progress("training the generator", 300, 900)
  before = _votes(service)
  for call in (
    lambda: service.next_clip("ann"),
    lambda: service.rate("ann", "g001-i00-s0", 3),
    lambda: service.next_pair("ann"),
    lambda: service.compare("ann", "g001-i00-s0", "g001-i01-s0", "g001-i00-s0"),
  ):
    with pytest.raises(NotReady, match="not ready yet: training the generator, step"):
      call()
  assert _votes(service) == before
  status = service.status()
  assert status["ready"] is False
  assert status["preparing"] == {
    "task": "training the generator",
    "step": 300,
    "total": 900,
    "error": None,
  }
  text, _ = progress_report(status)
  assert "**Getting ready:** training the generator, step 300 of 900." in text
  service.progress.fail("the generator failed to load; see the server log")
  with pytest.raises(NotReady, match="failed to load"):
    service.next_clip("ann")
  service.progress = service_lib.Progress("")
  assert service.status()["ready"] and service.next_clip("ann")[1].startswith("g001")


def test_wait_for_generation_ends_on_votes_advance_or_timeout(service):
  store, wait = service.store, service_lib.wait_for_generation
  assert wait(store, 1, mode="stars", per_clip=0)
  assert wait(store, 1, mode="stars", per_clip=5, timeout_seconds=0.05, poll=0.01)
  store.set_meta(service_lib.META_ADVANCE, "1")
  assert wait(store, 1, mode="pairwise", per_clip=5)
  store.set_meta(service_lib.META_PAUSED, "1")
  stop = threading.Event()
  stop.set()
  assert not wait(store, 1, mode="stars", per_clip=0, stop=stop)  # Paused: never.
