"""A real SMTP server for the email tests: aiosmtpd (Debian's
python3-aiosmtpd), not a mock of Alvares's client.

It listens on 127.0.0.1 at a free port, which it prints as `ready <port>`,
and requires a login (`--user`, `--password`; AUTH PLAIN or LOGIN, without
TLS: the tests run on loopback). Each message it accepts is parsed by
Python's own `email` package and written to `--out` as one JSON file
(`0001.json`, ...): the envelope, the login, every header, and each part.

Its replies to a recipient follow the recipient's local part, as a real
server's would: `greylisted@...` gets `451 4.7.1` (try again later),
`unknown@...` gets `550 5.1.1` (no such user). It stops when its standard
input closes (the test that started it ended).
"""

import argparse
import warnings
import email
import json
import os
import socket
import sys
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local == "greylisted":
            return "451 4.7.1 Greylisted, try again later"
        if local == "unknown":
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        parts = [
            {
                "contentType": part.get_content_type(),
                "charset": part.get_content_charset(),
                "body": part.get_content(),
            }
            for part in (message.iter_parts() if message.is_multipart() else [message])
        ]
        login = session.auth_data if isinstance(session.auth_data, str) else None
        record = {
            "mailFrom": envelope.mail_from,
            "rcptTos": envelope.rcpt_tos,
            "login": login,
            "headers": {name: str(value) for name, value in message.items()},
            "contentType": message.get_content_type(),
            "parts": parts,
        }
        self.count += 1
        path = os.path.join(self.out, f"{self.count:04}.json")
        with open(path + ".tmp", "w") as file:
            json.dump(record, file)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Message accepted for delivery"


def main():
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.user
            and auth_data.password.decode() == args.password
        )
        return AuthResult(success=ok, handled=False, auth_data=args.user if ok else None)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        Recorder(args.out),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    print(f"ready {port}", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
