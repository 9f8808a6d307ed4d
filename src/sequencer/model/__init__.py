"""The data that crosses the library's edge: the patient profile (input, interchange
format v1) and the recommendation (output). Internal: import from ``sequencer``."""
