"""The knowledge layer: reading ``rules/`` (YAML with line numbers), the condition
grammar, regulatory contexts, the compiled rule base and its clinical vocabulary.
Internal: import from ``sequencer``."""
