"""Exceptions shared by services, rendering and the interfaces on top of them."""


class PbxctlError(Exception):
    """Base class: a runtime failure with a message meant for the operator."""


class ValidationError(PbxctlError):
    """User input was refused; ``field`` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFoundError(PbxctlError):
    """A referenced object does not exist."""


class ConflictError(PbxctlError):
    """The change would contradict existing state (duplicate, still in use, overlap)."""


class RenderError(PbxctlError):
    """A template could not be rendered, or rendered something unsafe."""


class AmiError(PbxctlError):
    """Talking to Asterisk over AMI failed."""


class ApplyError(PbxctlError):
    """An apply failed; the previous configuration was restored."""
