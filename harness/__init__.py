"""asyncbench: a reproducible harness measuring sync against async Python web stacks."""

__version__ = "0.1.0"
