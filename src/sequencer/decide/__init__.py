"""From fired rules to a ranked recommendation: arguments, defeat, deferral, the
choice, and the unknown facts that could change it. Internal."""
