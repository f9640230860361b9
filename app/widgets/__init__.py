"""Reusable widgets of the DagFlux app (the graph canvas, forms, viewers)."""
