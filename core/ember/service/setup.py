"""Checks of the configuration that need no catalogue: which backup driver is chosen,
whether it loads with its options, the sizes the engine derives from them. The CLI
calls these at start-up and in ``ember config check``; they live here because the
service is the one door to the engine and the drivers."""

from __future__ import annotations

import os

from ember import config, loader


def _testing_allowed() -> bool:
    """A test fixture's switch: the testing drivers (memory) are refused otherwise."""
    return os.environ.get(loader.TESTING_ENV) == "1"


def check_driver_choice(conf) -> str:
    """The chosen driver's name, or ``ConfigError`` when it is unknown or test-only."""
    return loader.check_choice(conf, allow_testing=_testing_allowed())


def driver_distribution(name: str) -> str | None:
    """The distribution that provides the driver ``name``, if known."""
    return loader.distribution_of(name)


def load_checked_driver(conf):
    """The driver, loaded, with every option (its own included) checked."""
    driver = loader.load_driver(conf)
    config.check_values(conf)  # the driver registered its options on load
    return driver


def engine_sizes(driver, conf) -> tuple[int, int, str]:
    """(object size, SHA block size, compression) as the engine would use them; raises
    the engine's one-line error when they do not fit together."""
    from ember.engine.engine import Engine

    engine = Engine(driver, conf, loader.layout_of(driver))
    return engine.object_size, engine.block_size, engine.algorithm


def check_repository(driver) -> None:
    """Reach the repository: the driver's own setup check, then a listing (it names
    nothing) of the container a backup gets when the user names none."""
    driver.check_setup()
    container = loader.layout_of(driver).default_container(
        "00000000-0000-0000-0000-000000000000")
    driver.list_objects(container, "ember-check-")
