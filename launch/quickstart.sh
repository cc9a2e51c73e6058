#!/usr/bin/env bash
# Set up, then run the quickstart experiment end to end on embedded data:
# renders the music set (first run only), trains the log-mel CNN, prints the results,
# then attacks that classifier and prints its robust-accuracy table, then fits the
# anomaly detectors and prints their table, then unlearns a patient from an ECG
# model, then protects the music set with PosCUDA, then (given a trained generator)
# makes the music generator forget a collection, and ends with one summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
./launch/setup.sh
export GRADIO_ANALYTICS_ENABLED=False
WORKDIR=${WORKDIR:-runs/quickstart}
.venv/bin/python -m launch.run --config=experiments/quickstart.py --workdir="$WORKDIR" "$@"
echo "results: $WORKDIR/results.json  (table: $WORKDIR/results.md, $WORKDIR/confusion.png)"

# Adversarial robustness of the classifier just trained: FGSM and PGD per L-inf eps
# and per SNR budget on 32 test clips (experiments/attacks.py has every other table).
.venv/bin/python -m launch.run --config=experiments/attacks.py:runlocal,quick \
  --config.models.mel_cnn.workdir="$WORKDIR" --workdir="${WORKDIR}_attacks"
echo
cat "${WORKDIR}_attacks/tables.md"
echo "robustness: ${WORKDIR}_attacks/results.json (robust_vs_eps.png, robust_vs_snr.png)"
echo

# Faulty recordings: signal statistics, the DCASE autoencoder, k-NN in the classifier's
# embedding and their combination against pyod's detectors, every fault at three
# severities on the music set (experiments/anomaly.py has mislabels, wrong notes and
# adversarial inputs too).
.venv/bin/python -m launch.run --config=experiments/anomaly.py:runlocal,quick \
  --config.datasets.music.classifier_workdir="$WORKDIR" --workdir="${WORKDIR}_anomaly"
echo
cat "${WORKDIR}_anomaly/tables.md"
echo "anomaly detection: ${WORKDIR}_anomaly/results.json (auroc_music.png, scores_music.png)"
echo "Flag faulty takes as they land in a folder:"
echo "  .venv/bin/python -m launch.monitor --detector=${WORKDIR}_anomaly/detectors/music/combined --watch=incoming/"
echo

# Unlearning: a 1-D ResNet pretrained on synthetic ECG patients, fine-tuned on one
# held-out patient, then made to forget that patient's beats with five methods, each
# against retraining (experiments/ecg_unlearning.py has all ten and two patients;
# experiments/unlearning.py unlearns a music classifier).
.venv/bin/python -m launch.run --config=experiments/ecg_unlearning.py:quick \
  --workdir="${WORKDIR}_ecg_unlearning"
echo
cat "${WORKDIR}_ecg_unlearning/methods.md" | sed -n '1,12p'
echo "unlearning: ${WORKDIR}_ecg_unlearning/results.json (exposure.png, methods.md)"
echo

# Unlearnable data: the music set's training clips protected with PosCUDA (class-wise
# blur on short patches at key-given positions), a log-mel CNN trained on them and
# tested on clean clips beside the classifier above (experiments/unlearnable.py has
# CUDA, every front end x architecture, poison rates, knobs and defenses; protect
# your own folder with python -m launch.protect).
.venv/bin/python -m launch.run --config=experiments/unlearnable.py:quick \
  --config.clean_runs.music.mel_cnn="$WORKDIR" --workdir="${WORKDIR}_unlearnable"
echo
sed -n '1,12p' "${WORKDIR}_unlearnable/tables.md"
echo "unlearnable data: ${WORKDIR}_unlearnable/results.json (examples/: WAV pairs, spectrograms)"
echo

# Opt-out from the music generator: a trained generator forgets the Palestrina
# collection by ESD's negative guidance toward the retain captions, the runlocal
# study's best method (experiments/music_unlearning.py:runlocal adds retraining and
# the other methods).
# It reuses a generator that is already trained (GENERATOR_WORKDIR, else runs/gen or
# the rating app's runs/live/generator); without one the section is skipped.
GENERATOR=${GENERATOR_WORKDIR:-}
for candidate in runs/gen runs/live/generator; do
  if [ -z "$GENERATOR" ] && [ -f "$candidate/results.json" ]; then
    GENERATOR=$candidate
  fi
done
if [ -n "$GENERATOR" ] && [ -f "$GENERATOR/results.json" ]; then
  .venv/bin/python -m launch.run --config=experiments/music_unlearning.py:quick \
    --config.generator_workdir="$GENERATOR" --workdir="${WORKDIR}_music_unlearning"
  echo
  cat "${WORKDIR}_music_unlearning/methods.md"
  echo "music opt-out: ${WORKDIR}_music_unlearning/results.json (spectrograms/, samples/)"
else
  echo "Opt-out from the music generator: skipped, no trained generator found"
  echo "(GENERATOR_WORKDIR, runs/gen or runs/live/generator). Train one (~7-14 min):"
  echo "  .venv/bin/python -m launch.run --config=experiments/music_generator.py:runlocal --workdir=runs/gen"
fi
echo

echo "The tour in one table:"
.venv/bin/python -m launch.summary --workdir="$WORKDIR"
echo
echo "To rate generated music with people (the page is up at once; the generator trains"
echo "behind it the first time):"
echo "  .venv/bin/python gradio_app.py --config=experiments/human_ga.py:runlocal --workdir=runs/live --port=7860 [--share]"
