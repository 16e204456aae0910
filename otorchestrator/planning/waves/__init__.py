"""Wave staging: plan + policy + now -> WavePlan (see docs/waves.md)."""

from otorchestrator.planning.waves.stage import stage_waves

__all__ = ["stage_waves"]
