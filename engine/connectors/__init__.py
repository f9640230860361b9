"""Connectors: how DagFlux talks to databases and APIs (the plugin kind ``connectors``).

:mod:`engine.connectors.base` is the interface every connector implements;
:mod:`engine.connectors.store` keeps connection metadata (never secret values);
:mod:`engine.connectors.runtime` resolves connections inside a worker.
"""
