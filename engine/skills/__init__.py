"""Code skills: executors that run user-written code for a node.

:mod:`engine.skills.python_skill` runs a Transformer's Python ``transform(rows)``.
Importing this package has no side effects; nothing here limits or changes the
current process until a worker calls ``apply_sandbox`` explicitly.
"""
