"""pytest fixtures: smtp (real servers on loopback)."""
