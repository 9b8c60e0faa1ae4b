"""Report collection and rendering: collector.py (events -> report dict), render.py (files), junit.py."""
