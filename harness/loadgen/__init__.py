"""The load generator: closed-loop drivers (fanout, clients), the open-loop generator of the
rate scenario with its schedules and tallies, and the monitor of the instrument's health."""
