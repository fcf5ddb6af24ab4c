"""Settings for the whole suite."""

from __future__ import annotations

import os

# The nntune command keeps JAX's compiled programs in the user's cache directory by
# default; the suite never writes there (test_compilation_cache.py turns it on, in
# a temporary directory). Processes the tests start inherit this.
os.environ["NNTUNE_JAX_CACHE"] = "off"
for name in ("JAX_COMPILATION_CACHE_DIR", "JAX_COMPILATION_CACHE_MAX_SIZE"):
    os.environ.pop(name, None)  # nor in a cache directory of the developer's
