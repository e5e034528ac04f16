"""The one registry of detectors: names build, unknown names fail clearly, and the
persistence allow-list and the benchmark's defaults derive from it."""
from __future__ import annotations

import importlib

import pytest

from graphad.detectors import persistence, registry
from graphad.detectors.base import BaseDetector
from graphad.detectors.registry import detector_names, make_detector
from graphad.errors import GraphadError


@pytest.mark.parametrize("name", detector_names())
def test_every_registered_name_builds(name):
    det = make_detector(name)
    assert isinstance(det, BaseDetector)
    entry = registry.detector_entry(name)
    assert type(det).__name__ == entry.cls and type(det).__module__ == entry.module


def test_default_detector_is_registered():
    assert registry.DEFAULT_DETECTOR in detector_names()


def test_unknown_name_names_the_available_ones():
    with pytest.raises(GraphadError, match="no-such-detector") as info:
        make_detector("no-such-detector")
    for name in detector_names():
        assert name in str(info.value)


def test_persistence_classes_are_the_persistable_entries():
    expected = {e.cls: e.module for e in registry._DETECTORS.values() if e.persistable}
    assert expected                                     # MultimodalGAE at least
    assert persistence._CLASSES == expected
    for cls, module in persistence._CLASSES.items():    # save_detector compares modules
        assert getattr(importlib.import_module(module), cls).__module__ == module


def test_benchmark_defaults_come_from_the_registry():
    from graphad.bench import harness
    names = detector_names()
    assert harness.benchmark_detectors()[:len(names)] == names
    for name in names:
        spec = harness.detector_spec(name)
        assert spec.target == "graphad.detectors.registry:make_detector"
        assert spec.params == {"name": name}
        assert spec.family == ("graphad" if name == "gae" else "baseline")
    assert harness.detector_spec("gae").quick == {"epochs": 20}
