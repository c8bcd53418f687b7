"""Which browser a run belongs to: a random key kept in the address (``?s=``) across reloads."""

from __future__ import annotations

import secrets

import streamlit as st

# The query parameter carrying the key. There are no accounts: a person's conversations are
# those of the key in their address, so a reload, or a bookmark, finds them again.
PARAM = "s"
_STATE_KEY = "browser_session"
# URL-safe and long enough that another person's key cannot be guessed.
_TOKEN_BYTES = 18


def session_id() -> str:
    """This browser's key: the one in the address, else the tab's, else a new one.

    Call it from the entry script on every run: parameters set there survive switching pages,
    while those a page sets are dropped when another page opens.
    """
    given = st.query_params.get(PARAM, "")
    key = given if _valid(given) else str(st.session_state.get(_STATE_KEY) or "")
    if not key:
        key = secrets.token_urlsafe(_TOKEN_BYTES)
    st.session_state[_STATE_KEY] = key
    if given != key:
        st.query_params[PARAM] = key
    return key


def _valid(key: str) -> bool:
    # Anything else in the address (typed, cut off) starts a fresh session instead.
    return 16 <= len(key) <= 64 and all(c.isalnum() or c in "-_" for c in key)
