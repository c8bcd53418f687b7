"""Core of the document question-answering app: types, models, stores, catalog, retrieval, answers."""
