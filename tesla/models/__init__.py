"""Model bundles: manifest + JSON preprocessing + safe weights, loaded the same everywhere."""

from __future__ import annotations

from tesla.models.bundle import (
    Bundle,
    check_bundle,
    load_bundle,
    load_verified_bundle,
    read_manifest,
    save_bundle,
    verified_bundle_dir,
    write_manifest,
)
from tesla.models.preprocess import Preprocessor

__all__ = ["Bundle", "Preprocessor", "check_bundle", "load_bundle", "load_verified_bundle", "read_manifest",
           "save_bundle", "verified_bundle_dir", "write_manifest"]
