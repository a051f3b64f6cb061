"""orbitwire package."""
