"""Jeton's Python client: run the SQL-style command language over HTTP or WebSocket, and
create, list and revoke API tokens.

    import jeton

    client = jeton.Client.from_env()          # JETON_URL and JETON_TOKEN
    df = client.sql("SHOW API TOKENS").to_pandas()
"""

__version__ = "0.1.0"

from .config import Config  # noqa: E402
from .errors import (  # noqa: E402
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    JetonError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    TransportError,
)
from .result import CreatedToken, Result  # noqa: E402
from .client import Client, quote_identifier, quote_literal  # noqa: E402

__all__ = [
    "Client",
    "Config",
    "Result",
    "CreatedToken",
    "JetonError",
    "InvalidRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "ConfigurationError",
    "TransportError",
    "quote_identifier",
    "quote_literal",
]
