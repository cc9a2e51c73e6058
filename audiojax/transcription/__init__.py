"""Note transcription: rolls, note metrics, a trained transcriber, and basic-pitch.

* ``rolls``: notes <-> piano rolls on one frame grid (frame ``t`` centred at ``t /
  frame_rate``), the 88-key pitch range;
* ``metrics``: note precision / recall / F1 (mir_eval, onset-only or with offsets)
  and pooled frame F1;
* ``data``: splits with notes read into memory with their rolls (``FrameGrid``);
* ``model``: the waveform transcriber a config describes, its loss, ``restorable``;
* ``experiment``: the ``transcriber`` runner;
* ``basic_pitch``: Spotify's basic-pitch (ONNX) as a black-box peer: posteriors,
  notes, and an objective a score-based attack can ascend.

The ``transcription`` evaluator is ``audiojax.evaluators.transcription``. Nothing is
imported here: each module is imported by name.
"""
