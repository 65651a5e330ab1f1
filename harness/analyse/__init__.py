"""Analysing a run folder: pure statistics, verdicts and the family of comparisons, cells
and their values, the summary, the comparison of two runs, the model, the instrument's
checks and the metric vocabulary. Nothing here imports the measuring wings: a run is
re-analysed from its files alone."""
