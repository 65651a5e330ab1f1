"""Config text for tests of the harness's behaviour rather than of a measurement: limits no
busy machine crosses, so that a test beside other work judges what it means to judge."""

LIMITS_OFF = """
[limits]  # what is tested is the harness's behaviour, not the machine's quietness
foreign_cpu_max = 64.0
loadgen_cpu_max = 64.0
loadgen_wait_max = 64.0
upstream_overshoot_p99_max_ms = 60000.0
upstream_loop_lag_max_ms = 60000.0
send_lag_p99_max_ms = 60000.0
"""
