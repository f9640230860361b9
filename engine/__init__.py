"""DagFlux engine: workflow model, execution, storage and the engine-side CLI.

Importing this package (or any module below it) has no side effects: it starts no
process, opens no file and never imports Kivy, KivyMD or the ``app`` package.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
