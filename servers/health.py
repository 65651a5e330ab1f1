"""What every app's ``/health`` answers: who it is and what runs it.

One body for the Flask, Quart and FastAPI apps (mock or PostgreSQL upstream): the stack
and app names, the worker's pid, and the interpreter serving the request (its version
and whether the GIL is on, which a free-threaded build run with ``PYTHON_GIL=0`` turns
off), so a check can see which interpreter a stack really runs under.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any


def health_body(stack: str, app: str) -> dict[str, Any]:
    """The ``/health`` answer of the app ``app`` serving ``stack``."""
    gil = getattr(sys, "_is_gil_enabled", None)
    return {"status": "ok", "stack": stack, "app": app, "pid": os.getpid(),
            "python": platform.python_version(),
            "gil_enabled": True if gil is None else bool(gil())}
