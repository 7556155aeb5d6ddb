"""forwardkit-bt2: BT^2, backward-compatible training with basis transformation (kept free of imports)."""
