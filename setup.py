"""Build hook for the one optional C extension (everything else is in pyproject.toml).

``chunkscope.core._speedups`` holds C versions of the hottest loops (see
chunkscope/core/speedups.py). It is optional: where it cannot be compiled (no C
compiler, no Python headers) the build goes on without it and chunkscope runs
the same Python code, slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "chunkscope.core._speedups",
            sources=["chunkscope/core/_speedups.c"],
            optional=True,
        )
    ]
)
