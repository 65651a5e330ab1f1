"""Werkzeug's HTTP errors (Flask and Quart raise them for 404, 405, ...) as JSON answers."""

from __future__ import annotations

from werkzeug.exceptions import HTTPException


def extra_headers(error: HTTPException) -> dict[str, str]:
    """The headers the error carries besides its content type, e.g. ``Allow`` on a 405."""
    return {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
