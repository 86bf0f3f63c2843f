"""The one error type for bad user input anywhere in SpikePipe.

It lives here because `workloads` is the package every other one depends on.
Messages name the thing at fault (file, layer, field) so the CLI can print
them as one line.
"""


class ConfigError(ValueError):
    """Invalid user input: a network file, a shape, a size, a name, a data file."""


def path_error(exc: OSError, action: str, path: object) -> OSError:
    """`exc` as an OSError that names `path` (not a temporary file) and what was being done with
    it (`action`: "read", "write", "create", "lock"), so the command line can say which file failed."""
    new = OSError(exc.errno, exc.strerror or str(exc), str(path)) if exc.errno is not None else \
        OSError(f"{exc}")
    if exc.errno is None:
        new.filename = str(path)
    new.action = action  # type: ignore[attr-defined]
    return new
