"""Ingestion: parse files, chunk their pages, embed and store the chunks."""
