"""A loopback rsyslogd of our own, for the demo: Debian's rsyslogd with an unprivileged config in a directory
we own (imtcp on a free 127.0.0.1 port, omfile writing each raw message as one line), `-n` in the
foreground, its own pid file and work directory. The system's rsyslog is never touched."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from otorchestrator.forward.rfc5424 import SyslogFormatError, record_of_line

CONF = """\
global(workDirectory="{work}" maxMessageSize="256k")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\\n")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="otorch")
ruleset(name="otorch") {{
  action(type="omfile" file="{copy}" template="raw" asyncWriting="off" flushOnTXEnd="on")
}}
"""


def rsyslogd_binary() -> str | None:
    found = shutil.which("rsyslogd")
    if found:
        return found
    return "/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None


@dataclass
class LoopbackSyslog:
    port: int
    copy: Path
    proc: subprocess.Popen[bytes]

    def wait_for(self, seq: int, timeout_s: float = 20.0) -> bool:
        """Until the copy holds a record with `seq` (rsyslog writes asynchronously to the socket)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lines = self.copy.read_text(errors="replace").splitlines() if self.copy.exists() else []
            try:
                if lines and json.loads(record_of_line(lines[-1]))["seq"] >= seq:
                    return True
            except (SyslogFormatError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(directory: Path, timeout_s: float = 20.0) -> LoopbackSyslog:
    """Start rsyslogd writing to `directory`/copy.log; raises RuntimeError when it cannot."""
    directory = directory.resolve()  # rsyslogd changes to /: a relative pid file or work dir is not found
    binary = rsyslogd_binary()
    if binary is None:
        raise RuntimeError("rsyslogd is not installed (scripts/bootstrap.sh installs rsyslog)")
    (directory / "work").mkdir(parents=True, exist_ok=True)
    port = _free_port()
    conf = directory / "rsyslog.conf"
    conf.write_text(CONF.format(work=directory / "work", port=port, copy=directory / "copy.log"))
    proc = subprocess.Popen(
        [binary, "-n", "-f", str(conf), "-i", str(directory / "rsyslogd.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return LoopbackSyslog(port, directory / "copy.log", proc)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _, err = proc.communicate()
                raise RuntimeError(
                    f"rsyslogd did not listen on 127.0.0.1:{port}: {err.decode()[-500:]}"
                ) from None
            time.sleep(0.2)
