"""The tour's one table reads each section's own numbers, and says what did not run."""

import json

from launch import summary


def test_rows_read_each_run_and_name_the_missing_ones(tmp_path):
  workdir = str(tmp_path / "qs")
  (tmp_path / "qs").mkdir()
  (tmp_path / "qs" / "results.json").write_text(json.dumps({"test_accuracy": 0.99}))
  (tmp_path / "qs_unlearnable").mkdir()
  (tmp_path / "qs_unlearnable" / "results.json").write_text(
    json.dumps(
      {
        "clean": {"music": {"mel_cnn": 0.983}},
        "poscuda": {"music": {"mel_cnn": 0.25}},
        "chance": {"music": 0.1},
        "quality": {"poscuda": {"snr_db_mean": 20.27, "pesq_wb_mean": 3.874}},
      }
    )
  )
  (tmp_path / "qs_music_unlearning").mkdir()
  (tmp_path / "qs_music_unlearning" / "results.json").write_text(
    json.dumps(
      {
        "forget": "collection:palestrina",
        "methods": {
          "original": {"forget_collection_accuracy": 0.8, "retain_frechet": 13.5},
          "esd": {"forget_collection_accuracy": 0.25, "retain_frechet": 14.02},
        },
      }
    )
  )
  rows = {system: (measure, value) for system, measure, value in summary.rows(workdir)}
  assert rows["music opt-out (collection:palestrina)"][1] == (
    "original 0.800 / 13.50; esd 0.250 / 14.02"
  )
  assert rows["classifier (log-mel CNN)"][1] == "0.990"
  assert rows["unlearnable data (PosCUDA)"][1] == "0.983 / 0.250 (0.100); 20.3 dB, 3.87"
  for system in ("attacks", "anomaly detection", "ECG unlearning"):
    assert rows[system][0] == "not run"
