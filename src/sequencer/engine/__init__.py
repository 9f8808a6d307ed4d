"""Evaluating rules against a profile: the durable_rules adapter (the only module that
touches durable_rules) and a plain-Python reference evaluator. Internal."""
