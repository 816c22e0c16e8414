#!/usr/bin/env python3
"""Prints the first of COUNT consecutive TCP ports that are free on 127.0.0.1 right now.

Ports come from 20000-29999, below Linux's ephemeral range (32768+) so that outgoing connections made
while a test starts its servers cannot take them. Used by Tests/interop and benchmarks/ to start
servers without fixed ports: `base=$(scripts/free-ports.py 3)` then use base, base+1, base+2.
"""
import random
import socket
import sys

LOW, HIGH = 20000, 30000  # below the kernel's ephemeral port range
ATTEMPTS = 200


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    if not 1 <= count <= 100:
        print("free-ports: COUNT must be 1..100", file=sys.stderr)
        return 2
    for _ in range(ATTEMPTS):
        base = random.randrange(LOW, HIGH - count)
        if all(bindable(base + i) for i in range(count)):
            print(base)
            return 0
    print(f"free-ports: no {count} consecutive free ports in {LOW}-{HIGH} after {ATTEMPTS} tries", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
