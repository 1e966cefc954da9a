"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}`` with the status OpenAI uses.

Bad requests are 400 (``invalid_request_error``), a wrong or missing key 401, an unknown model 404
(``model_not_found``), a body over the limit 413, a full queue 429; missing model files and out-of-memory are 503
with ``x-should-retry: false`` (the official client would otherwise retry twice: neither heals by itself).
"""

from __future__ import annotations

from ..errors import CheckpointError, DeviceError, InvalidInputError, TortoiseError, VoiceError

NO_RETRY = {"x-should-retry": "false"}


class APIError(Exception):
    """An error response: HTTP ``status`` and OpenAI's error object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def invalid(param: str | None, message: str, code: str = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def from_library(error: BaseException, *, param: str | None = None) -> APIError:
    """The API error for an exception of the library (or of the device) raised while checking or speaking."""
    from .. import devices

    if isinstance(error, APIError):
        return error
    if isinstance(error, CheckpointError):  # ModelNotFoundError says which file and how to download it
        return APIError(503, f"model not available: {error}", type="server_error", code="model_not_available",
                        headers=NO_RETRY)  # fmt: skip
    if devices.is_out_of_memory(error) or (isinstance(error, DeviceError) and "out of memory" in str(error)):
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return APIError(503, f"out of memory: {first}", type="server_error", code="out_of_memory", headers=NO_RETRY)
    if isinstance(error, VoiceError):
        return invalid("voice", str(error))
    if isinstance(error, InvalidInputError):
        return invalid(param, str(error))
    if isinstance(error, TortoiseError):
        return APIError(500, str(error), type="server_error")
    return APIError(500, f"internal error ({type(error).__name__}); see the server's log", type="server_error")
