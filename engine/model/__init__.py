"""The workflow model: nodes, edges, validation, file format and undo commands.

Pure Python; the canvas draws this model and never holds graph truth.
"""

from engine.model.workflow import Edge, Node, Workflow, is_valid_id

__all__ = ["Edge", "Node", "Workflow", "is_valid_id"]
