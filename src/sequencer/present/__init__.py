"""Turning results into words and pages: terminal text, Markdown, the HTML case
report, and the safety of text shown on a terminal. Internal."""
