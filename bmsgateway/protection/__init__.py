"""Protection and control: the fault engine, contactors, relays, limits, balancing."""
