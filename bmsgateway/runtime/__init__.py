"""Process plumbing: logging setup and the systemd notify protocol."""
