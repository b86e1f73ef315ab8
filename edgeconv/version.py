"""edgeconv's version: stamped into generated C (`EC_RUNTIME_VERSION`) and packages."""

__version__ = "0.1.0"
