"""A minimal SMTP server on 127.0.0.1 for the alert tests (aiosmtpd is not installed).

Speaks just enough of RFC 5321 for smtplib: greeting, EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
QUIT. No STARTTLS or AUTH is advertised, so the client's connection must disable TLS. Loops are
bounded (lines per session, bytes per line, a socket timeout) so a confused client cannot hang
the suite.
"""

from __future__ import annotations

import email
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message

MAX_LINES = 10_000
MAX_LINE = 64 * 1024


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message

    def text(self) -> str:
        """Subject plus the decoded body parts, for assertions on what a person reads."""
        parts = [str(self.message["Subject"] or "")]
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                payload = part.get_payload(decode=True)
                parts.append(payload.decode(part.get_content_charset() or "utf-8") if payload else "")
        return "\n".join(parts)


@dataclass
class Sink:
    host: str
    port: int
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Session(socketserver.StreamRequestHandler):
    timeout = 10
    sink: Sink

    def _reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self._reply("220 c360-test-smtp ready")
        sender, recipients, reading, data = "", [], False, []
        for _ in range(MAX_LINES):
            raw = self.rfile.readline(MAX_LINE)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if reading:
                if line == ".":
                    msg = email.message_from_string("\n".join(data))
                    with self.sink.lock:
                        self.sink.messages.append(Received(sender, recipients, msg))
                    sender, recipients, reading, data = "", [], False, []
                    self._reply("250 OK: queued")
                else:
                    data.append(line[1:] if line.startswith("..") else line)
                continue
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 c360-test-smtp")
            elif verb == "MAIL":
                sender = line.split(":", 1)[1].strip().strip("<>")
                self._reply("250 OK")
            elif verb == "RCPT":
                recipients.append(line.split(":", 1)[1].strip().strip("<>"))
                self._reply("250 OK")
            elif verb == "DATA":
                reading = True
                self._reply("354 end data with <CR><LF>.<CR><LF>")
            elif verb in ("RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 command not implemented")


@contextmanager
def smtp_sink() -> Iterator[Sink]:
    """A running sink on a free port of 127.0.0.1; stopped on exit."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Session)
    server.daemon_threads = True
    sink = Sink("127.0.0.1", server.server_address[1])
    _Session.sink = sink
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
