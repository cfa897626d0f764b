"""The one exception family that stages report as a plain message instead of a traceback."""


class ServebenchError(Exception):
    """A problem the user can fix (bad params, missing input, failed gate); its message says how."""
