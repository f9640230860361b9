"""What a node added in the app starts with, beyond its type's empty config.

An Output added by hand writes into a folder the user can see and find again —
``~/DagFlux/<workflow id>/<node id>.csv`` (created on the first run) — rather than the
engine's fallback for an empty path, the workflow's folder, which for a saved workflow is
inside DagFlux's own hidden data directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

OUTPUT_ROOT = "DagFlux"


def default_output_folder(workflow_id: str) -> Path:
    return Path.home() / OUTPUT_ROOT / workflow_id


def initial_config(type_name: str, workflow_id: str, node_id: str) -> dict[str, Any]:
    """The config a new ``type_name`` node gets when added from the palette or a menu."""
    if type_name == "output":
        return {"path": str(default_output_folder(workflow_id) / f"{node_id}.csv"),
                "if_exists": "overwrite", "options": {"create_dirs": True}}
    return {}
