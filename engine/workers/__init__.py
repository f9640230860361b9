"""Worker processes: a warm pool that runs one node at a time per process.

``pool`` is the coordinator's side (the local executor); ``worker_main`` is the
process entry point; ``task`` runs one :class:`~engine.messages.RunNode` and is
shared with the inline executor used by fast tests.
"""
