"""Opt-out from the music generator end to end on the tiny set: requests select the
right clips, the retrained generator never saw them, every method gets a row, and
a rerun resumes from the cached rows."""

import json
import os

import numpy as np
import pytest

from audiojax import evaluators, experiment
from audiojax.data.source import DataError
from audiojax.generate import data as gen_data
from audiojax.train import runs
from audiojax.unlearning import music_experiment
from experiments import music_unlearning


@pytest.fixture(scope="module")
def original(generator_run):
  _, workdir, _ = generator_run
  return runs.restore(workdir)


@pytest.fixture(scope="module")
def train_split(original):
  g = original.model
  split, _ = gen_data.load_split(
    original.config.dataset, "train", g.spec, g.vocab, g.caption_length
  )
  return split


@pytest.fixture(scope="module")
def opt_out_run(tmp_path_factory, generator_run):
  _, gen_dir, _ = generator_run
  config = music_unlearning.get_config("tiny")
  config.generator_workdir = gen_dir
  workdir = str(tmp_path_factory.mktemp("music_unlearning"))
  return config, workdir, experiment.run(config, workdir)


def test_requests_select_their_clips(train_split):
  split = train_split
  palestrina = gen_data.OptOut.parse("collection:palestrina").covers(split)
  ids = split.source.arrays["collection"]
  expected = ids == split.collection_names.index("palestrina") + 1
  np.testing.assert_array_equal(palestrina, expected)
  assert 0 < palestrina.sum() < len(split)
  pieces = sorted(set(split.pieces))[:2]
  request = gen_data.OptOut.parse("pieces:" + ",".join(pieces))
  np.testing.assert_array_equal(request.check(split), np.isin(split.pieces, pieces))
  assert str(request) == "pieces:" + ",".join(pieces)


@pytest.mark.parametrize(
  "text, match",
  [
    ("palestrina", "expected"),
    ("composer:palestrina", "expected"),
    ("collection:", "expected"),
    ("collection:mozart", "mozart"),
    ("pieces:no/such/piece", "no/such/piece"),
  ],
)
def test_bad_requests_name_the_problem(train_split, text, match):
  with pytest.raises(DataError, match=match):
    gen_data.OptOut.parse(text).check(train_split)


def test_a_request_may_not_withdraw_everything(train_split):
  every = ",".join(train_split.collection_names)
  with pytest.raises(DataError, match="every training clip"):
    gen_data.OptOut.parse(f"collection:{every}").check(train_split)


def test_every_model_has_a_row(opt_out_run, train_split):
  config, workdir, r = opt_out_run
  table = r["methods"]
  assert list(table)[:2] == ["original", "retrain"]
  assert set(table) == {"original", "retrain", *config.methods}
  forget = gen_data.OptOut.parse(config.forget).covers(train_split)
  assert r["sizes"] == {"forget": int(forget.sum()), "retain": int((~forget).sum())}
  for name, row in table.items():
    assert 0.0 <= row["membership_auc"] <= 1.0, name
    assert row["unlearning_accuracy"] == pytest.approx(
      1 - row["forget_collection_accuracy"]
    )
    assert row["forget_frechet"] >= 0 and row["retain_frechet"] >= 0
    assert row["forget_clips"] == forget.sum()
  # Only the forget clips' collection is left out of the retain test clips.
  assert r["best"] == music_experiment.best_method(
    table, config.tolerance, config.quality
  )
  text = open(os.path.join(workdir, "methods.md")).read()
  assert "esd_retain" in text and "Closest to retrain" in text
  assert os.path.exists(os.path.join(workdir, "spectrograms", "esd.png"))
  assert os.path.exists(os.path.join(workdir, "samples", "retrain_forget_0.wav"))


def test_the_retrained_generator_never_saw_the_forget_clips(opt_out_run, original):
  config, workdir, _ = opt_out_run
  retrained = runs.restore(os.path.join(workdir, "retrain"))
  palestrina = original.model.collection_names.index("palestrina") + 1
  assert palestrina not in set(retrained.conditions["collection"].tolist())
  assert palestrina in set(original.conditions["collection"].tolist())
  # Same label spaces and vocabulary: the same conditions mean the same thing.
  assert retrained.model.vocab.tokens == original.model.vocab.tokens
  assert retrained.model.collection_names == original.model.collection_names


def test_a_rerun_resumes_from_the_cached_rows(opt_out_run, monkeypatch):
  config, workdir, first = opt_out_run
  rows = os.path.join(workdir, "rows")
  stamps = {n: os.path.getmtime(os.path.join(rows, n)) for n in os.listdir(rows)}
  monkeypatch.chdir(os.path.dirname(workdir))  # a workdir given relative resumes too
  again = experiment.run(config, os.path.basename(workdir))
  assert again["methods"] == json.loads(json.dumps(first["methods"]))
  assert stamps == {n: os.path.getmtime(os.path.join(rows, n)) for n in stamps}
  # Another method setting is another row: it is recomputed, the rest are kept.
  config.methods.finetune.lr = 3e-4
  third = experiment.run(config, workdir)
  assert third["methods"]["finetune"]["signature"]["options"]["lr"] == 3e-4
  assert third["methods"]["original"] == again["methods"]["original"]


def test_a_pieces_request_measures_against_held_out_clips_of_its_collections(
  original, train_split, opt_out_run
):
  _, workdir, _ = opt_out_run
  piece = sorted(set(train_split.pieces))[0]
  context = evaluators.Context(
    original.model, original.config.dataset, 0, original.workdir
  )
  ev = evaluators.EVALUATORS.get("opt_out")(
    "opt_out",
    context,
    forget=f"pieces:{piece}",
    clips=2,
    family_probe="probe",
    collection_probe=os.path.join(workdir, "collection_probe"),
    probe_batch_size=4,
    sampling=dict(steps=2, guidance=3.0, eta=0.0, batch_size=4),
  )
  assert set(ev.forget.pieces) == {piece}
  collection = set(ev.forget.source.arrays["collection"].tolist())
  assert set(ev.heldout.source.arrays["collection"].tolist()) == collection
  assert piece not in set(ev.heldout.pieces)
  assert len(ev.retain) > 0 and piece not in set(ev.retain.pieces)


@pytest.mark.parametrize("variant", music_unlearning.VARIANTS)
def test_every_variant_configures_valid_runs(variant):
  from audiojax.train import loop

  config = music_unlearning.get_config(variant)
  loop.LoopConfig.from_config(config.collection_probe)  # raises on a bad schedule
  loop.LoopConfig.from_config(config.generator)
  gen_data.OptOut.parse(config.forget)
