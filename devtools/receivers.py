"""Local receivers the alert tests and the latency bench start: a webhook endpoint and an SMTP server.

Both run in daemon threads on 127.0.0.1 with a free port and record what they got.
``WebhookReceiver.fail_next`` makes the next N requests answer 500 (or the status in
``fail_status``), so a test can watch a failing endpoint recover. ``SmtpReceiver`` speaks
just enough SMTP for smtplib: EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
"""

from __future__ import annotations

import base64
import json
import socketserver
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    body: Any
    at: float  # time.perf_counter() on arrival
    path: str


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.requests = 0
        self.fail_next = 0
        self.fail_status = 500
        self.retry_after: str | None = None  # a Retry-After header on failures
        self.lock = threading.Lock()
        self.event = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests += 1
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    else:
                        receiver.received.append(Received(json.loads(raw), time.perf_counter(), self.path))
                        receiver.event.notify_all()
                code = receiver.fail_status if failing else 200
                body = b"boom" if failing else b"ok"
                self.send_response(code)
                if failing and receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook/T000/SECRET"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def wait_for(self, n: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.received) < n and time.monotonic() < deadline:
                self.event.wait(timeout=0.1)
            return list(self.received)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes
    auth: str | None = None


@dataclass
class _SmtpState:
    mails: list[Mail] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    reject_rcpt: bool = False


class SmtpReceiver:
    """A tiny SMTP server; ``password`` makes it advertise AUTH and check it."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.state = _SmtpState()
        state = self.state
        creds = (username, password)

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self.reply("220 localhost test SMTP")
                sender, user = "", None
                rcpts: list[str] = []
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    verb = line.split(" ", 1)[0].upper()
                    arg = line[len(verb) + 1 :]
                    if verb == "EHLO":
                        extra = ["250-AUTH PLAIN LOGIN"] if creds[1] else []
                        for ext in ["250-localhost", *extra]:
                            self.reply(ext)
                        self.reply("250 8BITMIME")
                    elif verb == "HELO":
                        self.reply("250 localhost")
                    elif verb == "AUTH":
                        parts = arg.split()
                        if parts[0].upper() == "PLAIN":
                            blob = parts[1] if len(parts) > 1 else self._ask("334 ")
                            _, u, p = base64.b64decode(blob).decode().split("\0")
                        else:  # LOGIN
                            u = base64.b64decode(parts[1] if len(parts) > 1 else self._ask("334 VXNlcm5hbWU6")).decode()
                            p = base64.b64decode(self._ask("334 UGFzc3dvcmQ6")).decode()
                        if (u, p) == creds:
                            user = u
                            state.logins.append(u)
                            self.reply("235 ok")
                        else:
                            self.reply("535 bad credentials")
                    elif verb == "MAIL":
                        if creds[1] and user is None:
                            self.reply("530 authentication required")
                            continue
                        sender, rcpts = arg.split(":", 1)[1].strip("<> "), []
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        if state.reject_rcpt:
                            self.reply("550 no such user")
                            continue
                        rcpts.append(arg.split(":", 1)[1].strip("<> "))
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 end with .")
                        lines = []
                        while True:
                            chunk = self.rfile.readline()
                            if chunk in (b".\r\n", b""):
                                break
                            lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                        state.mails.append(Mail(sender, rcpts, b"".join(lines), user))
                        self.reply("250 queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 ok")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

            def _ask(self, prompt: str) -> str:
                self.reply(prompt)
                return self.rfile.readline().decode().strip()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def mails(self) -> list[Mail]:
        return self.state.mails

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> SmtpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
