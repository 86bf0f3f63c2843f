"""The one error type for bad user input anywhere in SpikePipe.

It lives here because `workloads` is the package every other one depends on.
Messages name the thing at fault (file, layer, field) so the CLI can print
them as one line.
"""


class ConfigError(ValueError):
    """Invalid user input: a network file, a shape, a size, a name, a data file."""
