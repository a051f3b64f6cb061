"""Mission knowledge: the curated catalog, text normalization, linking and partner extraction.

Modules, one concern each:

- :mod:`bot.knowledge.catalog` — load ``config/*.yaml`` + pycountry into frozen dataclasses.
- :mod:`bot.knowledge.textnorm` — the single normalization used on patterns and texts.
- :mod:`bot.knowledge.linker` — fast multi-pattern matching (Aho-Corasick) of catalog names.
- :mod:`bot.knowledge.extract` — rule-based "country X contributes to mission M" extraction.

Everything here is pure (no database); :mod:`storage.knowledge` writes the results.
"""
