"""Configuration: TOML read in one place, validated with pydantic at start."""

from bmsgateway.config.load import ConfigError, load_config, parse_config
from bmsgateway.config.model import Config

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]
