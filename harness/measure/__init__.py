"""Measuring: the plan of a run, one trial, the runner of rounds, reruns, calibration, and the
manifest with the environment it records. It writes run folders through ``rundir``."""
