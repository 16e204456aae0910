"""Create one lab host container and bring it to the lab baseline (lab/provision-host.sh inside it)."""

from __future__ import annotations

import base64

from otorchestrator.lab import podman
from otorchestrator.lab.config import HOST_LABEL, IMAGE_LABEL, LABEL, OWNER_LABEL, LabConfig
from otorchestrator.lab.inventory import LabHost

PROVISIONED_MARKER = "/etc/otlab-provisioned"
OPT_NWC_TMPFS = "rw,exec,nosuid,nodev,size=8m,mode=0755"  # nearly_full_disk knob


def create(
    cfg: LabConfig,
    host: LabHost,
    image: str,
    networks: tuple[str, ...] = (),
    publish: bool = True,
    labels: dict[str, str] | None = None,
) -> None:
    """`networks`: default the lab network; `publish`: SSH on 127.0.0.1:<port> (a zoned host has none)."""
    repo = cfg.repo_dir
    label_args = [a for k, v in (labels or {}).items() for a in ("--label", f"{k}={v}")]
    net_args = [a for n in (networks or (cfg.network,)) for a in ("--network", n)]
    publish_args = ["--publish", f"127.0.0.1:{cfg.port(host.base_port)}:22"] if publish else []
    args = [
        "run",
        "--detach",
        "--name",
        cfg.container(host.name),
        "--hostname",
        host.name,
        "--label",
        f"{LABEL}={cfg.name}",
        "--label",
        f"{HOST_LABEL}={host.name}",
        "--label",
        f"{IMAGE_LABEL}={image}",
        "--label",
        f"{OWNER_LABEL}={cfg.owner()}",
        *label_args,
        *net_args,
        *publish_args,
        "--init",  # catatonit as PID 1: reaps the daemons' orphans
        "--volume",
        f"{repo / 'main'}:/srv/nwc-repo:ro",
        "--volume",
        f"{repo / 'rogue'}:/srv/nwc-rogue:ro",
        "--stop-timeout",
        "2",
    ]
    if "nearly_full_disk" in host.knobs:
        args += ["--tmpfs", f"/opt/nwc:{OPT_NWC_TMPFS}"]
    args += [image, "/usr/local/sbin/otlab-entrypoint"]
    podman.run(args, timeout=120)


def provision(cfg: LabConfig, host: LabHost) -> None:
    """Lab key, signed repo as the only apt source, products at baseline, knobs. Raises PodmanError."""
    script = (cfg.scripts_dir / "provision-host.sh").read_text(encoding="utf-8")
    pubkey = cfg.ssh_key.with_suffix(".pub").read_text(encoding="utf-8").strip()
    keyring = base64.b64encode(cfg.keyring.read_bytes()).decode()
    knobs = ",".join(host.knobs) or "-"
    packages = [f"{pkg}={ver}" if ver else pkg for pkg, ver in host.packages]
    podman.exec_in(
        cfg.container(host.name),
        ["/bin/bash", "-s", "--", pubkey, keyring, knobs, *packages],
        stdin=script,
        timeout=300,
    )


def is_provisioned(cfg: LabConfig, host: LabHost) -> bool:
    proc = podman.exec_in(
        cfg.container(host.name), ["test", "-f", PROVISIONED_MARKER], check=False, timeout=30
    )
    return proc.returncode == 0
