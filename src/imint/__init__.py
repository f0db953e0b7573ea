"""imint: an offline imagery-intelligence workbench (faces, sites, cases)."""

__version__ = "0.1.0"
