"""The app's entry point (``streamlit run app/main.py``): shared resources, then page navigation."""

from __future__ import annotations

import streamlit as st

from app import browser_session, resources
from ragcore.errors import CatalogCorrupt, DiskFull, RagError

st.set_page_config(page_title="docqa — ask your documents", page_icon="📚", layout="wide")

try:
    resources.runtime()
    # In embedded mode the app is the only process that may open the store, so it ingests too.
    resources.background_worker()
except RagError as exc:
    st.error(f"The library cannot open: {exc}")
    st.stop()

browser_session.session_id()  # before the page: it keeps ?s= in the address on every page
page = st.navigation(
    [
        st.Page("views/library.py", title="Library", icon=":material/library_books:", default=True),
        st.Page("views/chat.py", title="Chat", icon=":material/chat:"),
        st.Page("views/evaluate.py", title="Evaluate", icon=":material/analytics:"),
        st.Page("views/system.py", title="System", icon=":material/monitor_heart:"),
    ]
)
try:
    page.run()
except (CatalogCorrupt, DiskFull) as exc:
    # The catalog was damaged, or the disk filled, while the app ran: what to do, not a stack dump.
    st.error(str(exc))
