"""Experiment configuration: ``schema`` (frozen, validated records), ``load`` (TOML files,
plain dicts and a manifest's resolved config) and ``catalogue`` (the built-in stacks)."""
