"""The environment of an ansible-playbook job: which ansible.cfg it reads, what the run overrides, and which
inherited variables reach it (docs/execution.md, "Ansible configuration").

The site's Ansible configuration is honoured: the ansible.cfg that `ansible-playbook` started where
`otorch` was started would read (ANSIBLE_CONFIG, ./ansible.cfg, ~/.ansible.cfg, /etc/ansible/ansible.cfg:
ansible-core's own search), and the project's ansible.cfg only when there is none. The run overrides
exactly the settings in `RUN_OVERRIDES` (environment variables beat any ansible.cfg); the roles and
collections paths put the project's first and keep the site's after them. A run on the Mitogen transport
also sets `MITOGEN_OVERRIDES` (`transport_env`); `transport_problem` says why it cannot run here.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# What every run sets, whatever the site's configuration says (documented in docs/execution.md).
RUN_OVERRIDES = (
    "ANSIBLE_ROLES_PATH",  # the project's roles first, then the site's roles_path
    "ANSIBLE_COLLECTIONS_PATH",  # the project's collections first, then the site's collections_path
    "ANSIBLE_TASK_TIMEOUT",  # the policy's per-task timeout
    "ANSIBLE_SSH_CONTROL_PATH_DIR",  # a ControlPath dir per run, kept across its jobs (execution/ansible.py)
    "ANSIBLE_RETRY_FILES_ENABLED",  # no .retry files beside the playbooks
    "ANSIBLE_CHECK_MODE_MARKERS",  # check-mode runs say so in their output
)
# What a run on the Mitogen transport sets on top (docs/execution.md, "Transport").
MITOGEN_OVERRIDES = (
    "ANSIBLE_STRATEGY_PLUGINS",  # ansible_mitogen's strategy plugins first, then the site's
    "ANSIBLE_STRATEGY",  # mitogen_linear
)
MITOGEN_STRATEGY = "mitogen_linear"
# the ansible-core releases ansible_mitogen 0.3.x has code paths for (its own check is a minimum only)
MITOGEN_ANSIBLE_CORE = ((2, 10), (2, 20))
TRANSPORT_ENV = "OTORCH_TRANSPORT"  # the site's default transport when a run names none
# Ansible's defaults when neither the environment nor an ansible.cfg sets the path.
DEFAULT_ROLES_PATH = "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles"
DEFAULT_COLLECTIONS_PATH = "~/.ansible/collections:/usr/share/ansible/collections"

_KEEP_INHERITED = frozenset(
    {"HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "SHELL", "TMPDIR", "TZ", "SSH_AUTH_SOCK"}
)
# trust and proxies: what callbacks (ARA), lookups and modules run on the controller need to reach a
# site's services through its proxy with its CA
PASSTHROUGH = frozenset(
    {"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE"}
    | {p for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY") for p in (name, name.lower())}
)
_PROXY = frozenset(n for n in PASSTHROUGH if n.upper().endswith("_PROXY") and n.upper() != "NO_PROXY")
_KEEP_PREFIXES = ("LC_", "ANSIBLE_", "ARA_")
_PATH_SUFFIXES = ("_PASSWORD_FILE", "_PASS_FILE")
_SECRET_NAME = re.compile(r"(?i)(pass(word|wd)?|secret|token|credential|api_?key|auth)(_|$)")


@dataclass(frozen=True)
class ConfigChoice:
    """The ansible.cfg a job reads and why (`site`: found by Ansible's search; else the project's)."""

    path: Path
    site: bool


def choose_config(project_dir: Path, found: str | None) -> ConfigChoice:
    """`found`: what ansible-core's search returned where otorch runs (`site_config_file()`)."""
    if found:
        return ConfigChoice(Path(found).resolve(), True)
    return ConfigChoice(project_dir / "ansible.cfg", False)


def site_config_file() -> str | None:
    """The ansible.cfg `ansible-playbook` would read if started here (ansible-core's own search)."""
    from ansible.config.manager import find_ini_config_file

    found: str | None = find_ini_config_file()
    return found


def config_path_setting(cfg: Path, key: str, aliases: tuple[str, ...] = ()) -> list[str] | None:
    """A `[defaults]` path list of an ansible.cfg, as Ansible resolves it: `~` expanded, relative entries
    taken from the file's directory. None when the file does not set it (or cannot be read)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(cfg, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    for name in (key, *aliases):
        raw = parser.get("defaults", name, fallback=None)
        if raw is not None:
            return [_resolve(entry, cfg.parent) for entry in raw.split(os.pathsep) if entry.strip()]
    return None


def run_settings(choice: ConfigChoice, project_dir: Path, inherited: Mapping[str, str]) -> dict[str, str]:
    """ANSIBLE_CONFIG plus the path overrides of RUN_OVERRIDES (the other overrides are per request)."""
    cfg_roles = config_path_setting(choice.path, "roles_path") if choice.site else None
    cfg_colls = (
        config_path_setting(choice.path, "collections_path", ("collections_paths",)) if choice.site else None
    )
    roles = _site_paths(inherited.get("ANSIBLE_ROLES_PATH"), cfg_roles, DEFAULT_ROLES_PATH)
    colls = _site_paths(inherited.get("ANSIBLE_COLLECTIONS_PATH"), cfg_colls, DEFAULT_COLLECTIONS_PATH)
    return {
        "ANSIBLE_CONFIG": str(choice.path),
        "ANSIBLE_ROLES_PATH": _join([str(project_dir / "roles"), *roles]),
        "ANSIBLE_COLLECTIONS_PATH": _join([str(project_dir / ".collections"), *colls]),
    }


def job_env(
    runner_env: Mapping[str, str], ours: Mapping[str, str], inherited: Mapping[str, str]
) -> dict[str, str]:
    """The environment of the ansible-playbook job: everything we set, everything ansible-runner added or
    changed, and of the inherited variables only locale/terminal/home/ssh-agent, ANSIBLE_* and ARA_*
    settings, CA bundles and proxies (PASSTHROUGH); never one whose name says it holds a secret (password,
    token, secret, credential, api key) nor a proxy URL carrying a password (the job's env is written to
    artifacts/command); a ``*_PASSWORD_FILE`` (e.g. ANSIBLE_VAULT_PASSWORD_FILE) is a path and is kept."""
    kept: dict[str, str] = {}
    for name, value in runner_env.items():
        if name in ours:
            kept[name] = value
        elif name in inherited and inherited[name] == value:  # merely inherited from our process
            short = name.split("_", 1)[1] if name.startswith(("ANSIBLE_", "ARA_")) else name
            # *_PASSWORD_FILE (e.g. ANSIBLE_VAULT_PASSWORD_FILE) names a path, not a secret
            if _SECRET_NAME.search(short) and not name.endswith(_PATH_SUFFIXES):
                continue
            if name in _PROXY and _has_password(value):
                continue
            if name in _KEEP_INHERITED or name in PASSTHROUGH or name.startswith(_KEEP_PREFIXES):
                kept[name] = value
        else:  # added or changed by ansible-runner (callback plugin paths, PYTHONPATH, ...)
            kept[name] = value
    return kept


def _has_password(url: str) -> bool:
    try:
        return urlsplit(url if "://" in url else f"http://{url}").password is not None
    except ValueError:
        return True  # unparsable: do not write it to disk


def _site_paths(env_value: str | None, cfg_value: list[str] | None, default: str) -> list[str]:
    """The environment beats the ansible.cfg, which beats Ansible's default (its precedence)."""
    if env_value is not None:
        return [os.path.expanduser(p) for p in _split(env_value)]
    if cfg_value is not None:
        return cfg_value
    return [os.path.expanduser(p) for p in _split(default)]


def _resolve(entry: str, base: Path) -> str:
    entry = os.path.expanduser(entry.strip())
    return entry if os.path.isabs(entry) else os.path.normpath(base / entry)


def _split(value: str) -> list[str]:
    return [p for p in value.split(os.pathsep) if p]


def _join(paths: list[str]) -> str:
    return os.pathsep.join(dict.fromkeys(paths))


def default_transport(env: Mapping[str, str] | None = None) -> str:
    """The transport of a run that names none: $OTORCH_TRANSPORT, else ssh."""
    return (os.environ if env is None else env).get(TRANSPORT_ENV, "") or "ssh"


def transport_problem(transport: str, ansible_core: str | None = None) -> str | None:
    """Why a run cannot use `transport` on this controller (None: it can): Mitogen not importable by the
    Python that runs ansible-playbook, or an ansible-core release it does not support."""
    if transport == "ssh":
        return None
    if transport != "mitogen":
        return f"transport {transport!r}: expected ssh or mitogen"
    if importlib.util.find_spec("ansible_mitogen") is None:
        return (
            "transport mitogen: the mitogen package is not installed in this Python "
            "(pip install 'otorchestrator[mitogen]'); use --transport ssh"
        )
    if ansible_core is None:
        from ansible.release import __version__

        ansible_core = str(__version__)
    lo, hi = MITOGEN_ANSIBLE_CORE
    release = tuple(int(p) for p in re.findall(r"\d+", ansible_core)[:2])
    if not lo <= release <= hi:
        return (
            f"transport mitogen: ansible-core {ansible_core} is not supported by Mitogen 0.3 "
            f"(supported {lo[0]}.{lo[1]} to {hi[0]}.{hi[1]}); use --transport ssh"
        )
    return None


def transport_env(transport: str, inherited: Mapping[str, str]) -> dict[str, str]:
    """The job settings of `transport` (MITOGEN_OVERRIDES for mitogen; nothing for ssh). Raises ValueError
    with `transport_problem`'s reason when it cannot run here."""
    problem = transport_problem(transport)
    if problem is not None:
        raise ValueError(problem)
    if transport == "ssh":
        return {}
    spec = importlib.util.find_spec("ansible_mitogen")
    assert spec is not None and spec.origin is not None  # checked by transport_problem
    plugins = str(Path(spec.origin).parent / "plugins" / "strategy")
    site = _split(inherited.get("ANSIBLE_STRATEGY_PLUGINS", ""))
    return {"ANSIBLE_STRATEGY_PLUGINS": _join([plugins, *site]), "ANSIBLE_STRATEGY": MITOGEN_STRATEGY}
