"""Operations: health checks and metrics of a deployment, over every lower layer (read-only)."""
