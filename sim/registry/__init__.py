"""The registries: one per family of names (semantics, patterns, causes, approaches, presets).

Every other layer reads them: the schema's allowed values, the engine's strategies, the charts'
styles, explain's words and the docs' tables. A new entry is one addition here.
"""
