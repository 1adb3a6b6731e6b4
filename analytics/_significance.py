"""Placeholder until the module is written."""

AssessChangeResult = None
assess_change = None
