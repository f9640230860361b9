"""The DagFlux desktop app (Kivy + KivyMD): a client of the background engine.

Layers: :mod:`app.bridge` is the only door between the engine connection (background
threads) and the Kivy main thread; :mod:`app.document` holds an open workflow with its undo
stack (the graph truth while editing); screens and widgets only draw and turn gestures into
commands. Nothing under ``engine/`` imports this package.
"""
