"""The engine: cells, their run keys and records, planning, executors and workers, and what a
cell's training loop gets from the harness (device, seeds, timers, precision)."""
