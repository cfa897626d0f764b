"""The BentoML service that serves any validated variant."""
