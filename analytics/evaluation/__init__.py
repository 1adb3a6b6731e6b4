"""Accuracy measurement: scoring the analytics modules on generated cases with known causes."""
