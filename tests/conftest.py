import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, max_examples=25, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile("thorough", deadline=None, max_examples=300,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global seed, so failures repeat."""
    import tinygrad_llm
    tinygrad_llm.manual_seed(0)
    np.random.seed(0)
    yield


def pytest_addoption(parser):
    parser.addoption(
        "--answers", action="append", default=[], metavar="PATH",
        help="check your own answers to a chapter's exercises: run the chapter's exercise tests against PATH "
             "(e.g. chapters/05_rnn_lstm/exercises.py) instead of its solutions.py; only the tests that use the "
             "answers run. A file inside a chapter folder counts for that chapter, a file elsewhere for every "
             "chapter selected; repeat the option for several chapters.")


def pytest_collection_modifyitems(config, items):
    """With --answers, keep only the exercise tests (those using the ``sol`` fixture). Skip oracle tests cleanly
    when the oracle library is not installed."""
    if config.getoption("answers"):
        uses = ["sol" in getattr(item, "fixturenames", ()) for item in items]
        config.hook.pytest_deselected(items=[item for item, u in zip(items, uses) if not u])
        items[:] = [item for item, u in zip(items, uses) if u]
    for item in items:
        if "torch" in item.keywords:
            try:
                import torch  # noqa: F401
            except ImportError:
                item.add_marker(pytest.mark.skip(reason="PyTorch oracle not installed (pip install -e .[parity])"))

