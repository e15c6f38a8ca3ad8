"""copyscope: reproducible studies of data replication (memorization) in diffusion models."""
__version__ = "0.1.0"
