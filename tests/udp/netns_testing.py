"""Helpers for the UDP tools' tests that build network namespaces with
`ip netns` (iproute2; root, outside Bazel's sandbox, whose /run/netns is
read-only)."""

import secrets
import subprocess


def ip(*args, check=True):
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)
    if check and p.returncode != 0:
        raise AssertionError("ip %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def in_ns(ns, script):
    """Runs a shell script in namespace `ns`."""
    subprocess.run(["ip", "netns", "exec", ns, "/bin/sh", "-c", script],
                   check=True, timeout=20)


def python_in(ns, code, *args, timeout=300):
    """Runs `code` with python3 in namespace `ns`; returns its stdout."""
    p = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", code]
                       + list(args),
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("python in %s failed: %s" % (ns, p.stderr))
    return p.stdout


class Namespaces:
    """Network namespaces with random names (loopback up), removed at the
    end of the test; ns[role] is the name of the one for `role`."""

    def __init__(self, test, *roles):
        suffix = secrets.token_hex(3)
        self.names = {}
        for role in roles:
            name = "udpt-%s-%s" % (role, suffix)
            ip("netns", "add", name)
            test.addCleanup(ip, "netns", "del", name, check=False)
            ip("-n", name, "link", "set", "lo", "up")
            self.names[role] = name

    def __getitem__(self, role):
        return self.names[role]
