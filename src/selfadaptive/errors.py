"""Errors a user can fix: the CLI prints them as one line and exits with code 2."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of ``exc``'s message (or its type name), cut to ``limit`` characters,
    for one-line error reports."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


class UserError(Exception):
    """Bad input (missing file, wrong shape, bad config...).  Its message is one self-contained line."""

    exit_code = 2


class TrainingDiverged(Exception):
    """The loss became NaN or inf; the last good checkpoint is kept."""

    exit_code = 1


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was saved and the run can be resumed."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.exit_code = 128 + signum
