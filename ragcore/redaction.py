"""Credentials out of addresses before anything shows or logs them: user:password and key=… values."""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"

# user:password@ (or a bare token@) right after the scheme. The user name goes too: services
# that put a token in the address often put it there ("https://TOKEN@host").
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s@]+@")
# A query or fragment parameter: its name, then its value up to the next separator.
_PARAM = re.compile(r"([?&;#])([^=&;#\s/]+)=([^&;#\s]*)")
# Parameter names that carry a secret: api_key, api-key, apikey, key, token, access_token,
# X-Amz-Signature, sig, client_secret, password, auth, code… (api-version and model do not).
_SECRET_NAME = re.compile(r"(?i)key|token|secret|pass|pwd|auth|sig|credential|session|code")
# A credential shorter than this is only masked where it stands in an address: replacing
# every "ab" in an error message would mangle it and protect nothing.
_MIN_LOOSE = 4


def _mask_param(match: re.Match[str]) -> str:
    separator, name, value = match.groups()
    if value and _SECRET_NAME.search(name):
        return f"{separator}{name}={MASK}"
    return match.group(0)


def redact_url(url: str) -> str:
    """``url`` (or any text holding addresses) with user info and secret parameters masked.

    >>> redact_url("http://u:pw@10.0.0.5:8080/v1?api_key=sk-1&api-version=2024-02-01")
    'http://***@10.0.0.5:8080/v1?api_key=***&api-version=2024-02-01'
    """
    return _PARAM.sub(_mask_param, _USERINFO.sub(rf"\1{MASK}@", url))


def url_secrets(url: str) -> tuple[str, ...]:
    """The credential strings inside ``url``, as written and percent-decoded, longest first."""
    found: set[str] = set()
    for match in _USERINFO.finditer(url):
        userinfo = match.group(0)[len(match.group(1)) : -1]
        found.update(part for part in userinfo.split(":", 1) if part)
    for match in _PARAM.finditer(url):
        _, name, value = match.groups()
        if value and _SECRET_NAME.search(name):
            found.add(value)
    found |= {unquote(s) for s in found}
    return tuple(sorted(found, key=len, reverse=True))


def redact_text(text: str, url: str = "") -> str:
    """``text`` (e.g. an HTTP client's error) with ``url``'s credentials masked wherever they
    appear, also outside an address (a client may echo the password or the key on its own).

    >>> redact_text("GET http://u:hunter22@h/v1/chat failed: bad password hunter22",
    ...             "http://u:hunter22@h/v1")
    'GET http://***@h/v1/chat failed: bad password ***'
    """
    text = redact_url(text)
    for secret in url_secrets(url):
        if len(secret) >= _MIN_LOOSE:
            text = text.replace(secret, MASK)
    return text
