"""Accuracy measurement: scoring the analytics modules on cases with known causes."""
