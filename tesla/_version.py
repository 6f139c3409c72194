"""The Tesla version (its own module, so importing it never runs the package root)."""

__version__ = "0.1.0"
