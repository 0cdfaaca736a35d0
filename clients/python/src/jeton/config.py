"""Where the server is and which token to present, from arguments or the environment."""

import os
from typing import Mapping, Optional

from .errors import ConfigurationError

__all__ = ["Config", "ENV_URL", "ENV_TOKEN"]

ENV_URL = "JETON_URL"
ENV_TOKEN = "JETON_TOKEN"


class Config:
    """The client's settings: ``url`` (``http(s)://`` or ``ws(s)://`` base address of the
    server), ``token`` and ``timeout`` in seconds. ``ws_addr`` and ``ws_token`` are accepted as
    the tngri library spells them. ``repr()`` never shows the token."""

    __slots__ = ("url", "token", "timeout")

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        timeout: Optional[float] = 30,
        *,
        ws_addr: Optional[str] = None,
        ws_token: Optional[str] = None,
    ):
        self.url = url or ws_addr
        self.token = token or ws_token
        self.timeout = timeout

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, timeout: Optional[float] = 30) -> "Config":
        """``JETON_URL`` and ``JETON_TOKEN``; a clear error when either is missing."""
        env = os.environ if environ is None else environ
        missing = [name for name in (ENV_URL, ENV_TOKEN) if not (env.get(name) or "").strip()]
        if missing:
            raise ConfigurationError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                f"set {ENV_URL} to the Jeton server's address (http://host:8080, or ws://host:8080 "
                f"for the WebSocket) and {ENV_TOKEN} to an API token (CREATE API TOKEN, or "
                f"`jeton token create`)"
            )
        return cls(url=env[ENV_URL].strip(), token=env[ENV_TOKEN].strip(), timeout=timeout)

    def __repr__(self) -> str:
        return f"Config(url={self.url!r}, token={'<hidden>' if self.token else None}, timeout={self.timeout!r})"
