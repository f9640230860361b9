"""The native part of the package: the CSV import's loader (engine/io/readers/_csvload.c, the
Python module, and _csvparse.c, its reading and parsing).

It links the system's libsqlite3, the one the stdlib ``sqlite3`` module uses (checked at run
time). It is optional: where it does not build, imports use the Python reader, which gives
the same tables.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("engine.io.readers._csvload",
              ["engine/io/readers/_csvload.c", "engine/io/readers/_csvparse.c"],
              depends=["engine/io/readers/_csvparse.h"],
              libraries=["sqlite3"], extra_compile_args=["-O2"], optional=True),
])
