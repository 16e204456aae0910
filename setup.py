"""The wheel's build step that pyproject.toml cannot express: the Ansible content goes into the package.

playbooks/, roles/ and ansible.cfg live once in git, at the top of the checkout (where Ansible, ansible-lint
and Molecule expect them). Building the wheel copies them into otorchestrator/ansible_content/, where
otorchestrator/resources.py finds them through importlib.resources. An editable install needs no copy:
resources.py falls back to the checkout. The sdist carries them through MANIFEST.in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
CONTENT_ITEMS = ("playbooks", "roles", "ansible.cfg")  # = otorchestrator.resources.CONTENT_ITEMS
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.retry", ".molecule")


class BuildPyWithAnsibleContent(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "otorchestrator" / "ansible_content"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for item in CONTENT_ITEMS:
            source = HERE / item
            if source.is_dir():
                shutil.copytree(source, target / item, ignore=IGNORED)
            elif source.is_file():
                shutil.copy2(source, target / item)
            else:
                raise SystemExit(f"setup.py: {source} is missing: the wheel would have no Ansible content")


setup(cmdclass={"build_py": BuildPyWithAnsibleContent})
