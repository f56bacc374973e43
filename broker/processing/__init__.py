"""Processors: one per (value type, intent), registered in `broker.engine.engine.PROCESSORS`."""
