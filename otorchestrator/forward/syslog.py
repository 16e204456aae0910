"""The syslog sink: every audit record, as it is written, to a syslog server over TCP (optionally TLS).

RFC 5424 messages with octet-counted framing (RFC 6587; RFC 5425 over TLS). One connection, kept; a peer
that closed it is noticed before the next send (TCP syslog servers never send), and a failed send is
retried once on a new connection. TCP has no application acknowledgement: what the server really holds
is proven afterwards by `otorch audit verify --against` its file.

On failure the site's policy decides: `halt` raises `AuditUnavailable` (the record is in the local log;
the run stops starting host steps), `warn` reports once per outage and goes on.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from otorchestrator import __version__
from otorchestrator.forward.rfc5424 import MessageSource, octet_frame, syslog_message
from otorchestrator.models.auditconfig import OnFailure, SyslogTarget
from otorchestrator.models.run import AuditEvent
from otorchestrator.store.audit import AuditLog
from otorchestrator.store.errors import AuditUnavailable


class ForwardError(OSError):
    """A record could not be handed to the syslog server."""


class TcpTransport:
    """A kept TCP (or TLS) connection to `target`; `send` raises `ForwardError`."""

    def __init__(self, target: SyslogTarget) -> None:
        self.target = target
        self._sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        t = self.target
        try:
            sock = socket.create_connection((t.host, t.port), timeout=t.timeout_s)
        except OSError as exc:
            raise ForwardError(f"cannot connect to {t.host}:{t.port}: {exc.strerror or exc}") from exc
        if not t.tls:
            return sock
        context = ssl.create_default_context(cafile=t.ca_file)
        if t.cert_file and t.key_file:
            context.load_cert_chain(t.cert_file, t.key_file)
        try:
            return context.wrap_socket(sock, server_hostname=t.server_name or t.host)
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise ForwardError(f"TLS with {t.host}:{t.port} failed: {exc}") from exc

    def _peer_closed(self, sock: socket.socket) -> bool:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        try:
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        except OSError:
            return True

    def open(self) -> None:
        """Connect now (when not connected): raises `ForwardError`."""
        if self._sock is None:
            self._sock = self._connect()

    def send(self, frame: bytes) -> None:
        last: Exception | None = None
        for _ in range(2):  # the kept connection, then a new one
            if self._sock is not None and self._peer_closed(self._sock):
                self.close()
            try:
                if self._sock is None:
                    self._sock = self._connect()
                self._sock.sendall(frame)
                return
            except ForwardError as exc:
                last = exc
                break  # a refused connection is not retried at once
            except OSError as exc:
                last = exc
                self.close()
        raise ForwardError(str(last)) from last

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


Transport = Callable[[bytes], None]


@dataclass
class SyslogSink:
    """An audit sink forwarding each record; `missed` lists the seqs not forwarded (policy warn)."""

    target: SyslogTarget
    warn: Callable[[str], None]
    source: MessageSource | None = None
    transport: TcpTransport | None = None
    missed: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _outage: bool = False

    def __post_init__(self) -> None:
        if self.source is None:
            self.source = MessageSource(
                hostname=self.target.hostname or socket.getfqdn(),
                app_name=self.target.app_name,
                procid=str(os.getpid()),
                facility=self.target.facility,
                enterprise_id=self.target.enterprise_id,
                version=__version__,
            )
        if self.transport is None:
            self.transport = TcpTransport(self.target)

    def check(self) -> None:
        """Before a run starts: the server takes a connection (raises `AuditUnavailable` when it does not
        and the policy is halt)."""
        assert self.transport is not None
        try:
            with self._lock:
                self.transport.open()
        except ForwardError as exc:
            self._failed(None, exc)

    def written(self, record: AuditEvent, log: AuditLog) -> None:
        assert self.source is not None and self.transport is not None
        frame = octet_frame(syslog_message(record, self.source))
        try:
            with self._lock:
                self.transport.send(frame)
        except ForwardError as exc:
            self._failed(record.seq, exc)
            return
        if self._outage:
            self._outage = False
            self.warn(f"audit forwarding to {self.where} works again from seq {record.seq}")

    @property
    def where(self) -> str:
        return f"syslog {self.target.host}:{self.target.port}{' (TLS)' if self.target.tls else ''}"

    def _failed(self, seq: int | None, exc: Exception) -> None:
        what = f"audit record seq {seq} was written locally but not forwarded" if seq else "no connection"
        message = f"{what} to {self.where}: {exc}"
        if self.target.on_failure is OnFailure.HALT:
            raise AuditUnavailable(message + " (policy on_failure: halt)", written=seq is not None) from exc
        if seq is not None:
            self.missed.append(seq)
        if not self._outage:
            self._outage = True
            self.warn(message + " (policy on_failure: warn: the run goes on)")

    def close(self) -> None:
        assert self.transport is not None
        with self._lock:
            self.transport.close()
