"""A thin, typed wrapper around the podman CLI (rootful). The only place the lab runs podman."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class PodmanError(RuntimeError):
    pass


def _clean_stderr(text: str) -> str:
    # podman 4.3 warns about an unused CNI config on every call; it is noise here (netavark is used)
    lines = [ln for ln in text.splitlines() if "CNI config" not in ln and "connect to syslog" not in ln]
    return "\n".join(lines).strip()


def run(
    args: Sequence[str], *, check: bool = True, stdin: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    cmd = ["podman", *args]
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise PodmanError("podman is not installed (run scripts/bootstrap.sh)") from exc
    except subprocess.TimeoutExpired as exc:
        raise PodmanError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from exc
    proc.stderr = _clean_stderr(proc.stderr)
    if check and proc.returncode != 0:
        raise PodmanError(
            f"{' '.join(cmd[:4])} ... failed (rc {proc.returncode}): {proc.stderr or proc.stdout}"
        )
    return proc


@dataclass(frozen=True)
class Container:
    name: str
    state: str  # running, exited, created, stopped, paused, ...
    image: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.state == "running"


def _container(entry: dict[str, Any]) -> Container:
    names = entry.get("Names") or [entry.get("Name", "")]
    return Container(
        name=str(names[0]),
        state=str(entry.get("State", "unknown")).lower(),
        image=str(entry.get("Image", "")),
        labels={str(k): str(v) for k, v in (entry.get("Labels") or {}).items()},
    )


def list_containers(label: str | None = None, name_prefix: str | None = None) -> list[Container]:
    """Containers (any state) matching a label filter ``key=value`` or a name prefix."""
    args = ["ps", "-a", "--format", "json"]
    if label:
        args += ["--filter", f"label={label}"]
    if name_prefix:
        args += ["--filter", f"name=^{name_prefix}"]
    out = run(args).stdout.strip()
    return [_container(e) for e in json.loads(out or "[]")]


def remove_containers(names: Sequence[str], stop_timeout: int = 2, attempts: int = 3) -> None:
    """Remove containers in any state, including ones whose conmon died with the session that started
    them (podman 4.3 then fails the first ``rm --force`` with "timed out waiting for file
    .../exits/<id>", having marked the container exited; the next ``rm`` removes it)."""
    left = list(names)
    for attempt in range(1, attempts + 1):
        if not left:
            return
        args = ["rm", "--force", "--time", str(stop_timeout), "--ignore", *left]
        proc = run(args, timeout=120, check=False)
        if proc.returncode == 0:
            return
        present = {c.name for c in list_containers()}
        left = [n for n in left if n in present]
        if left and attempt == attempts:
            raise PodmanError(
                f"podman rm --force failed {attempts} times for {', '.join(left)} "
                f"(rc {proc.returncode}): {proc.stderr or proc.stdout}"
            )
        time.sleep(0.5 * attempt)


def network_exists(name: str) -> bool:
    return run(["network", "exists", name], check=False).returncode == 0


def create_network(name: str, labels: dict[str, str]) -> None:
    label_args = [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
    # no DNS server process (aardvark-dns) for the lab network: nothing to leak, nothing to forward
    run(["network", "create", "--disable-dns", *label_args, name])


def remove_network(name: str) -> None:
    if network_exists(name):
        run(["network", "rm", "--force", name], timeout=120)


def image_exists(ref: str) -> bool:
    return run(["image", "exists", ref], check=False).returncode == 0


def exec_in(
    container: str,
    command: Sequence[str],
    *,
    stdin: str | None = None,
    timeout: float = 300,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    args = ["exec", *(["-i"] if stdin is not None else []), container, *command]
    return run(args, stdin=stdin, timeout=timeout, check=check)
