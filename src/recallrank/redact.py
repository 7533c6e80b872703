"""Secrets inside URLs (``http://user:PASSWORD@host``, ``?api_key=...``) are never shown or written.

Credentials are found as the user meant them, not as a strict parser reads the text: everything between the
scheme (``http://``; the start of the text when there is none, as in ``user:secret@host:6333``) and the *last*
``@`` is user information. A strict parser (urllib, httpx, urllib3, which qdrant-client uses) ends the authority
at the first ``/``, ``?`` or ``#``, so to it ``http://user:pa/ss@h:6333`` is host ``user`` with the invalid port
``pa``, and it would find no password to hide. A Qdrant URL has no ``@`` in its path or query, so reading the last
one as the end of the credentials can hide more than a secret, never less.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit

from recallrank.errors import InvalidInputError

_SECRET_PARAMS = ("key", "token", "secret", "password", "auth")
MASK = "***"


def split_credentials(url: str) -> tuple[str, str | None, str]:
    """``(scheme, user information, rest)`` of ``url``: ``scheme`` is ``"http://"``, ``"//"`` or ``""``; the user
    information is ``None`` when there is no ``@``; ``rest`` is the host and what follows it.

    Example:
        >>> split_credentials("http://user:pa/ss@h:6333/x")
        ('http://', 'user:pa/ss', 'h:6333/x')
    """
    head, sep, tail = url.partition("://")
    if sep and head and head[0].isalpha() and all(c.isalnum() or c in "+.-" for c in head):
        scheme, body = head + sep, tail
    elif url.startswith("//"):
        scheme, body = "//", url[2:]
    else:
        scheme, body = "", url
    userinfo, at, rest = body.rpartition("@")
    return (scheme, userinfo, rest) if at else (scheme, None, body)


def check_url(url: str, what: str = "url") -> str:
    """``url`` when the Qdrant client reads its credentials where the user wrote them; else an
    :class:`InvalidInputError` that shows the URL masked. A password holding ``/``, ``?`` or ``#``, or a URL
    without a scheme, would otherwise be split elsewhere by the client, which then quotes part of the password in
    its own error.
    """
    scheme, userinfo, _ = split_credentials(url)
    if not userinfo:
        return url
    try:
        strict = urlsplit(url)
        strict.port  # noqa: B018 (raises on a port that is not a number)
        same = strict.scheme.lower() in ("http", "https") and strict.netloc.rpartition("@")[0] == userinfo
    except ValueError:
        same = False
    if not same:
        reason = ("it has no http:// or https:// in front" if scheme in ("", "//") else
                  "a '/', '?' or '#' in the credentials ends the host part for it")
        raise InvalidInputError(
            f"{what} {redact_url(url)!r} holds credentials the Qdrant client cannot read ({reason}); qdrant-client "
            "sends no credentials from a URL anyway: give the URL without them and the server's API key as "
            "api_key (--api-key or RECALLRANK_API_KEY)")
    return url


def has_secret(url: str | None) -> bool:
    """Whether ``url`` carries credentials (anything before the host's ``@``) or a secret-looking query
    parameter."""
    return url is not None and redact_url(url) != url


def redact_url(url: str | None) -> str | None:
    """``url`` with its credentials and secret query parameters replaced by ``***``; a URL without them comes back
    unchanged. The user name stays visible where it is unambiguous (``user:`` before the password).

    Example:
        >>> redact_url("https://admin:hunter2@qdrant.example:6333/?api_key=abc&x=1")
        'https://admin:***@qdrant.example:6333/?api_key=***&x=1'
        >>> redact_url("http://user:pa/ss@h:6333"), redact_url("token@h:6333")
        ('http://user:***@h:6333', '***@h:6333')
    """
    if url is None:
        return None
    scheme, userinfo, rest = split_credentials(url)
    rest, hash_, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    shown = scheme + ("" if userinfo is None else f"{_masked_userinfo(userinfo)}@") + rest
    return shown + question + _masked_params(query) + hash_ + _masked_params(fragment)


def _masked_userinfo(userinfo: str) -> str:
    if not userinfo:
        return ""
    user, colon, _ = userinfo.partition(":")
    # a name without a colon may be a token (``key@host``); a name holding a delimiter may be part of the password
    unambiguous = colon and user and not any(c in user for c in "/?#@[]")
    return f"{user}:{MASK}" if unambiguous else MASK


def _masked_params(text: str) -> str:
    """``a=1&api_key=x`` with the values of secret-looking names masked; the rest kept exactly as written."""
    if not text:
        return text
    parts = []
    for part in text.split("&"):
        name, eq, _ = part.partition("=")
        secret = eq and any(s in unquote_plus(name).lower() for s in _SECRET_PARAMS)
        parts.append(f"{name}={MASK}" if secret else part)
    return "&".join(parts)
