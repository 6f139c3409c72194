"""Model bundles: manifest + JSON preprocessing + safe weights, loaded the same everywhere."""

from __future__ import annotations

from tesla.models.bundle import Bundle, load_bundle, read_manifest, save_bundle, write_manifest
from tesla.models.preprocess import Preprocessor

__all__ = ["Bundle", "Preprocessor", "load_bundle", "read_manifest", "save_bundle", "write_manifest"]
