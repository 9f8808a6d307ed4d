"""Explaining decisions: what-if analysis, the published patients' replay, and
teaching exercises. Internal."""
