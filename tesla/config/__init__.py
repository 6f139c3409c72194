"""Configuration: the structured schema, Hydra composition and semantic checks."""

from __future__ import annotations

from tesla.config.checks import check_config, register_check
from tesla.config.compose import DEFAULT_CONF_DIR, compose, config_groups
from tesla.config.schema import TeslaConfig

__all__ = ["DEFAULT_CONF_DIR", "TeslaConfig", "check_config", "compose", "config_groups", "register_check"]
