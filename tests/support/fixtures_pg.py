"""pytest fixtures: pg (real servers on loopback)."""
