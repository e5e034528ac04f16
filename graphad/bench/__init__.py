"""Benchmarks: encoder speed, and detectors against their peers (``run_benchmark``)."""
from .harness import (BenchConfig, DetectorSpec, RunRecord, benchmark_datasets,
                      benchmark_detectors, register_detector, run_benchmark,
                      unregister_detector)
from .report import environment, rank_summary, render_markdown, summarise, write_report

__all__ = ["run_benchmark", "benchmark_datasets", "benchmark_detectors",
           "register_detector", "unregister_detector", "DetectorSpec", "RunRecord",
           "BenchConfig", "write_report", "render_markdown", "summarise",
           "rank_summary", "environment"]
