"""One table of the quickstart tour: the headline number of each system's run.

  python -m launch.summary --workdir=runs/quickstart

Reads ``results.json`` of the tour's runs (``WORKDIR``, ``WORKDIR_attacks``,
``WORKDIR_anomaly``, ``WORKDIR_ecg_unlearning``, ``WORKDIR_unlearnable``,
``WORKDIR_music_unlearning``); a run that is missing is listed as not run.
"""

import json
import os

from absl import app, flags

_WORKDIR = flags.DEFINE_string(
  "workdir", "runs/quickstart", "the tour's classifier run"
)


def _load(path):
  try:
    with open(os.path.join(path, "results.json")) as f:
      return json.load(f)
  except FileNotFoundError:
    return None


def rows(workdir: str) -> list[tuple[str, str, str]]:
  """``(system, measure, value)`` per tour section."""
  out = []
  clf = _load(workdir)
  if clf is None:
    out.append(("classifier", "not run", workdir))
  else:
    out.append(
      ("classifier (log-mel CNN)", "test accuracy", f"{clf['test_accuracy']:.3f}")
    )
  attacks = _load(f"{workdir}_attacks")
  if attacks is None:
    out.append(("attacks", "not run", f"{workdir}_attacks"))
  else:
    pgd = attacks["robust_accuracy"]["linf"]["pgd"]
    eps = sorted(pgd, key=float)
    out.append(
      (
        "attacks",
        f"PGD-10 accuracy at L-inf {eps[0]} / {eps[-1]}",
        f"{pgd[eps[0]]:.3f} / {pgd[eps[-1]]:.3f}",
      )
    )
  anomaly = _load(f"{workdir}_anomaly")
  if anomaly is None:
    out.append(("anomaly detection", "not run", f"{workdir}_anomaly"))
  else:
    mean = anomaly["summary"]["mean_auroc_middle"]
    ours = max((n for n in anomaly["faults"]), key=mean.get)
    peer = max((n for n in anomaly["peers"]), key=mean.get)
    out.append(
      (
        "anomaly detection",
        f"mean AUROC over {len(anomaly['faults'][ours])} faults: {ours} / {peer}",
        f"{mean[ours]:.3f} / {mean[peer]:.3f}",
      )
    )
  ecg = _load(f"{workdir}_ecg_unlearning")
  if ecg is None:
    out.append(("ECG unlearning", "not run", f"{workdir}_ecg_unlearning"))
  else:
    table = ecg["methods"]
    retrain = table["retrain"]
    approx = [n for n in table if n not in ("retrain", "original")]
    best = min(approx, key=lambda n: abs(table[n]["mia_auc"] - retrain["mia_auc"]))
    row = table[best]
    out.append(
      (
        "ECG unlearning",
        f"MIA AUC / test acc / time vs retrain: {best} (retrain)",
        f"{row['mia_auc']:.3f} / {row['test_acc']:.3f} / "
        f"{row['seconds_vs_retrain']:.2f} ({retrain['mia_auc']:.3f} / "
        f"{retrain['test_acc']:.3f} / 1)",
      )
    )
  unlearnable = _load(f"{workdir}_unlearnable")
  if unlearnable is None:
    out.append(("unlearnable data", "not run", f"{workdir}_unlearnable"))
  else:
    quality = unlearnable["quality"]["poscuda"]
    out.append(
      (
        "unlearnable data (PosCUDA)",
        "clean-test accuracy: trained on clean / protected (chance); SNR, PESQ",
        f"{unlearnable['clean']['music']['mel_cnn']:.3f} / "
        f"{unlearnable['poscuda']['music']['mel_cnn']:.3f} "
        f"({unlearnable['chance']['music']:.3f}); "
        f"{quality['snr_db_mean']:.1f} dB, {quality['pesq_wb_mean']:.2f}",
      )
    )
  opt_out = _load(f"{workdir}_music_unlearning")
  if opt_out is None:
    out.append(
      ("music opt-out", "not run (needs a trained generator)", "see the tour above")
    )
  else:
    table = opt_out["methods"]
    cells = [
      f"{n} {table[n]['forget_collection_accuracy']:.3f} / "
      f"{table[n]['retain_frechet']:.2f}"
      for n in table
    ]
    out.append(
      (
        f"music opt-out ({opt_out['forget']})",
        "forget-collection accuracy / retain Fréchet",
        "; ".join(cells),
      )
    )
  return out


def main(argv):
  del argv
  lines = ["| system | measure | value |", "| --- | --- | --- |"]
  lines += [f"| {a} | {b} | {c} |" for a, b, c in rows(_WORKDIR.value)]
  print("\n".join(lines))


if __name__ == "__main__":
  app.run(main)
