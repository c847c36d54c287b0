"""Pipelines: steps declared once, run by ``populate`` over every asset that lacks their output.

The lake is the only database: outputs are derived assets, and job claims, leases, error records
and done markers live under ``assetlake-jobs/`` (:mod:`assetlake.pipelines.claims`).
"""

from assetlake.pipelines.step import JobContext, Step, step

__all__ = ["JobContext", "Step", "step"]
