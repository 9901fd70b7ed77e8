"""Hardware cost models for MiCo: simulator ground truth, kernel profiler, latency models.

`latency.sim` gives cycle-approximate ground truth (QEMU + our TCG plugin + llvm-mca),
`latency.profile` samples kernel configurations into a dataset with provenance, and
`latency.models` holds the cost models (the `mico.costs.CostModel` protocol).
"""
