"""HTTP handlers, one module per plane: device, lab."""
