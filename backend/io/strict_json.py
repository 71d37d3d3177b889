"""JSON from users (job options, lights.json): standard JSON or a one-line UserError.

Python's json module takes NaN and Infinity, which are not JSON, and raises RecursionError on
deeply nested input; both would otherwise surface far from the input as internal errors.
"""

from __future__ import annotations

import json

from ..errors import UserError


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str | bytes, what: str):
    """The decoded value of text; what names the input in the error ("options", "x.json")."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise UserError(f"{what}: the JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{what}: not valid JSON ({exc})") from None
