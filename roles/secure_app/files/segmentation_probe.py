"""Segmentation probe of the secure stack, run inside a throwaway container (or on the Docker host).

    python3 segmentation_probe.py ping HOST          does HOST answer an ICMP echo?
    python3 segmentation_probe.py mariadb HOST PORT  does a MariaDB/MySQL server greet on HOST:PORT?

Prints one JSON line, {"probe", "target", "reached", "detail"}, and exits 0 either way (2 on bad usage): the
caller judges "reached". The ping uses an unprivileged ICMP datagram
socket (net.ipv4.ping_group_range, which Docker opens to every group): no capability and no ping binary needed.
A TCP connect alone proves nothing (a transparent proxy may accept any connection): the probe waits for the
server's own handshake packet (protocol version 10).
"""

import json
import socket
import struct
import sys
import time


def ping(host, attempts=3, timeout=1.0):
    try:
        address = socket.gethostbyname(host)
    except OSError as exc:
        return False, "name not resolved: %s" % exc
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    sock.settimeout(timeout)
    for seq in range(1, attempts + 1):
        packet = struct.pack("!BBHHH", 8, 0, 0, 0, seq) + b"segmentation-probe"
        try:
            sock.sendto(packet, (address, 0))
            start = time.monotonic()
            while time.monotonic() - start < timeout:
                reply, _ = sock.recvfrom(1024)
                if reply and reply[0] == 0:  # echo reply
                    return True, "echo reply from %s (seq %d)" % (address, seq)
        except socket.timeout:
            continue
        except OSError as exc:
            return False, "%s: %s" % (address, exc)
    return False, "no echo reply from %s in %d attempts" % (address, attempts)


def mariadb(host, port, timeout=3.0):
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            greeting = sock.recv(128)
    except OSError as exc:
        return False, "%s:%s: %s" % (host, port, exc)
    # A MySQL protocol packet: 3-byte length, sequence 0, then protocol version 10.
    if len(greeting) > 5 and greeting[3] == 0 and greeting[4] == 10:
        return True, "MariaDB greeting: %r" % greeting[5:greeting.index(b"\0", 5)].decode(errors="replace")
    return False, "no MariaDB greeting (%d bytes: %r)" % (len(greeting), greeting[:16])


def main(argv):
    if len(argv) < 3 or (argv[1], len(argv)) not in (("ping", 3), ("mariadb", 4)):
        print(__doc__, file=sys.stderr)
        return 2
    kind, args = argv[1], argv[2:]
    reached, detail = ping(*args) if kind == "ping" else mariadb(*args)
    print(json.dumps({"probe": kind, "target": ":".join(args), "reached": reached, "detail": detail}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
