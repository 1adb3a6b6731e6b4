"""Seeded generators of realistic casino data with planted causes (ground truth)."""
