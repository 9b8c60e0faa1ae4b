"""pytest fixtures: http (real servers on loopback)."""
