"""qdrant-client for the server store: importing it, and what its failures mean (credentials never shown)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from recallrank.errors import MissingDependencyError, StoreError, StoreUnavailableError
from recallrank.redact import MASK, has_secret, redact_url


def client_module() -> Any:
    try:
        import qdrant_client
    except ImportError as exc:
        raise MissingDependencyError("the Qdrant server backend needs qdrant-client: "
                                     "pip install 'recallrank[server]'") from exc
    return qdrant_client


def server_error(url: str | None, what: str, exc: BaseException) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if url is not None and has_secret(url):
        text = text.replace(url, str(redact_url(url))).replace(url.rstrip("/"), str(redact_url(url.rstrip("/"))))
        parts = urlsplit(url)
        if parts.password:
            text = text.replace(parts.password, MASK)
    url = redact_url(url)
    if any(s in text for s in ("Connect", "connect", "Timeout", "timed out", "Name or service", "refused")):
        return StoreUnavailableError(f"cannot reach the Qdrant server at {url} to {what} ({text[:200]}); "
                                     "check the URL and that the server is running")
    return StoreError(f"Qdrant server at {url} failed to {what}: {text[:300]}")
