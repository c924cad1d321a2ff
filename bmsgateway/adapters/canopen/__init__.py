"""CANopen node (CiA 418 battery module + manufacturer area) on the ``[can]`` bus."""
