"""The errors the client raises. Every one is a :class:`JetonError`; the server's refusals are
mapped by HTTP status (or, over the WebSocket, by the error code that stands for it)."""

from typing import Any, List, Optional

__all__ = [
    "JetonError",
    "InvalidRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "ConfigurationError",
    "TransportError",
    "error_for",
    "STATUS_OF_CODE",
]

# The server's error codes and the HTTP status each stands for (the WebSocket carries only the code).
STATUS_OF_CODE = {
    "bad_request": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "payload_too_large": 413,
    "unprocessable": 422,
    "too_many_requests": 429,
    "internal": 500,
    "unavailable": 503,
}


class JetonError(Exception):
    """A request Jeton refused, or one that could not be made.

    ``code`` is the server's error code (``forbidden``, ``unprocessable``, ...), ``status`` the
    HTTP status, ``message`` the server's words. For scripts, ``statement_index`` (1-based),
    ``statement``, ``line`` and ``column`` say where it stopped, and ``results`` holds the
    results of the statements that ran before it.
    """

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        status: Optional[int] = None,
        statement_index: Optional[int] = None,
        statement: Optional[str] = None,
        line: Optional[int] = None,
        column: Optional[int] = None,
        results: Optional[List[Any]] = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.statement_index = statement_index
        self.statement = statement
        self.line = line
        self.column = column
        self.results = list(results or [])

    def __str__(self) -> str:
        if self.status is not None:
            return f"{self.message} ({self.status} {self.code})" if self.code else f"{self.message} ({self.status})"
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}, status={self.status!r})"


class InvalidRequestError(JetonError):
    """400 or 422: a syntax error, a bad value, or a rule such as a token-lifetime limit."""


class AuthenticationError(JetonError):
    """401: the token is missing, wrong, expired or revoked."""


class PermissionDeniedError(JetonError):
    """403: authenticated, but not allowed (``FOR USER`` by a non-administrator, ...)."""


class NotFoundError(JetonError):
    """404: the statement or request named something that does not exist."""


class ConflictError(JetonError):
    """409: a uniqueness rule (a token or user name already taken)."""


class RateLimitError(JetonError):
    """429: too many attempts; try again later."""


class ConfigurationError(JetonError, ValueError):
    """The client is not configured: no URL, no token, or a URL it cannot use."""


class TransportError(JetonError):
    """The server could not be reached, or the connection broke."""


_CLASS_OF_STATUS = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def error_for(status: Optional[int], error: Any, results: Optional[List[Any]] = None) -> JetonError:
    """The exception for an error object of the API (``{"code", "message", ...}``)."""
    if not isinstance(error, dict):
        error = {"message": str(error) if error else "request failed"}
    code = error.get("code")
    if status is None and code in STATUS_OF_CODE:
        status = STATUS_OF_CODE[code]
    cls = _CLASS_OF_STATUS.get(status, JetonError) if status is not None else JetonError
    return cls(
        str(error.get("message") or code or "request failed"),
        code=code,
        status=status,
        statement_index=error.get("statement_index"),
        statement=error.get("statement"),
        line=error.get("line"),
        column=error.get("column"),
        results=results,
    )
