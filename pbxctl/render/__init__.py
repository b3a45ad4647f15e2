"""Pure rendering: the desired state of one node in, the text of its Asterisk files out."""

from pbxctl.render.model import BranchConfig, NodeConfig, PhoneConfig
from pbxctl.render.node import RenderedNode, render_node
from pbxctl.render.templates import TemplateSet

__all__ = ["BranchConfig", "NodeConfig", "PhoneConfig", "RenderedNode", "TemplateSet",
           "render_node"]
