"""Ingestion: fetch → parse → normalize/dedup → store (and link).

Modules are kept apart as in lemon24/reader: the fetcher knows HTTP, the parser knows feed
formats, the store knows SQL; the updater (:mod:`bot.ingest.updater`) strings them together.
"""
