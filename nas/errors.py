"""Errors a user can act on. The CLI prints their one-line message and exits 2."""


class WeftError(ValueError):
    """Base of every error whose message names what is wrong and what is allowed."""


class ConfigError(WeftError):
    """A config, option or command-line value is unknown or out of range."""


class RunDirError(WeftError):
    """A run directory is missing, belongs to another space, or is inconsistent."""


class CheckpointError(WeftError):
    """A checkpoint or export is missing, corrupt, or does not fit the model."""


class ExportError(WeftError):
    """A model has no form in an export format, or its export does not compute what the model computes."""


class TrainingDiverged(WeftError):
    """A training step's loss, gradients or updated parameters went NaN or inf."""


class DiskFull(WeftError):
    """The device ran out of space while a run was written; what was already on disk stays usable."""
