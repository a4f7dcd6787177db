"""Package list for setuptools (everything else is in pyproject.toml).

The wheel holds voxflow's own packages -- ``tui``, ``flow``, ``audio`` and their
subpackages -- and the demo flow with its recording as ``flow/examples/`` package
data, taken from the repository's ``flows/`` folder, so an installed
``voxflow run flows/demo.yaml`` works outside the checkout. See
docs/ARCHITECTURE.md ("Packaging").
"""

from setuptools import find_packages, setup

OWN = ["tui", "tui.*", "flow", "flow.*", "audio", "audio.*"]

setup(
    packages=[*find_packages(include=OWN), "flow.examples"],
    package_dir={"flow.examples": "flows"},
    package_data={
        "tui": ["styles/*.tcss"],
        "flow.examples": ["demo.yaml", "audio/demo-user.wav"],
    },
)
