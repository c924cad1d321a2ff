"""Adapters: protocol servers that read ``SnapshotStore.latest`` and submit requests back."""
