"""Secrets inside URLs (``http://user:PASSWORD@host``, ``?api_key=...``) are never shown or written."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAMS = ("key", "token", "secret", "password", "auth")
MASK = "***"


def has_secret(url: str | None) -> bool:
    """Whether ``url`` carries a password or a secret-looking query parameter."""
    return url is not None and redact_url(url) != url


def redact_url(url: str | None) -> str | None:
    """``url`` with its password and secret query parameters replaced by ``***``.

    Example:
        >>> redact_url("https://admin:hunter2@qdrant.example:6333/?api_key=abc&x=1")
        'https://admin:***@qdrant.example:6333/?api_key=%2A%2A%2A&x=1'
    """
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = f"{parts.username or ''}:{MASK}@{netloc.rsplit('@', 1)[1]}"
        query = parts.query
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(any(s in k.lower() for s in _SECRET_PARAMS) for k, _ in pairs):
            query = urlencode([(k, MASK if any(s in k.lower() for s in _SECRET_PARAMS) else v) for k, v in pairs])
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:  # not a URL we can parse: show nothing of it that could be a secret
        return f"{url.split('@')[-1]}" if "@" in url else url
