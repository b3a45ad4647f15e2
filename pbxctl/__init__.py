"""pbxctl: desired state for a hosted Asterisk PBX, rendered and applied to real nodes."""

__version__ = "0.1.0"
