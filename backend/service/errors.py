"""Error bodies: every failure the service answers is {"error": {"code": ..., "message": ...}}
with a 4xx/5xx status, whichever layer found it (middleware, body parsing, route, worker)."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import ModelNotAvailable, UserError

_CODES = {400: "bad_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 408: "timeout", 409: "conflict", 413: "too_large",
          429: "busy", 501: "not_implemented", 503: "busy"}


class ServiceError(HTTPException):
    """An HTTP error with our machine-readable code; raised from anywhere, body parsing included."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code


def error_response(exc: Exception) -> JSONResponse:
    if isinstance(exc, ModelNotAvailable):
        status, code, message, headers = 501, "model_not_available", str(exc), None
    elif isinstance(exc, UserError):
        status, code, message, headers = 400, "bad_input", str(exc), None
    elif isinstance(exc, HTTPException):
        status, headers, message = exc.status_code, exc.headers, str(exc.detail)
        code = getattr(exc, "code", None) or _CODES.get(status, "error")
    else:
        message = f"internal error: {type(exc).__name__}"
        status, code, headers = 500, "internal", None
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)
