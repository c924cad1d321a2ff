"""Hardware access layer: knows chips, pins and bytes, nothing about batteries."""
