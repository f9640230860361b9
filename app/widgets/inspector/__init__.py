"""The node panel (inspector) shown beside the canvas: one strict form per node type.

``InspectorPanel`` is the widget the Editor screen hosts; see :mod:`.panel` for its
contract. The forms live in ``<type>_form.py`` modules, their shared fields in
:mod:`.fields`.
"""

from app.widgets.inspector.panel import InspectorPanel

__all__ = ["InspectorPanel"]
