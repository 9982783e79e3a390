"""Scoring with a published model: archives (Beam), a few files (in-process) and labelled evaluation.

One module per job:

- ``discover``: what to score (a folder, glob, listing file or one file; local or gs://) -> VideoInput;
- ``sample``: decode + face detection + crops of one video (the extraction path), as a DoFn and a function;
- ``infer``: the model (loaded once per worker by RunInference's shared handle) over sampled videos;
- ``rows``: the result row of one video (status, p_fake, verdict, top frames);
- ``commit``: a destination folder: its settings, resume, committed part files, result views, summary;
- ``job``: the bulk-scoring Beam job (``run_scoring``), one or several models sharing decode + faces;
- ``predict``: in-process scoring of a few files (``skyhawk predict``);
- ``metrics``: labelled evaluation metrics (AUC with bootstrap CI, accuracy, log loss, per-source tables);
- ``evaluate``: ``skyhawk evaluate`` (labels -> scoring -> evaluation.json), one or several models;
- ``pages``: the HTML a reviewer opens (``--explain`` pages, the evaluation page);
- ``component``: the TFX BatchScorer component.
"""


class ScoreError(ValueError):
    """Bad SRC, DEST or settings (one line), raised before any Beam work starts."""
