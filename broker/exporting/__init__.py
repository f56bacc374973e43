"""The exporter director and what it needs: loading exporters from the configuration,
their controllers, and their acknowledged positions in the partition's state."""
