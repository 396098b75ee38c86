"""Loopback address allocation.

Each sandbox owns one 127.B.0.0/16 block (B is locked with a file so two sandboxes on one
machine never share addresses): pods get 127.B.0-127.x, Services 127.B.128-254.x. Linux routes
all of 127.0.0.0/8 to the loopback interface, so any of these can be bound without setup.
"""
import fcntl
import ipaddress
import os
import tempfile

LOCK_DIR = os.path.join(tempfile.gettempdir(), "llm-research-lab-sandbox-blocks")


class BlockLock:
    """Holds 127.B.0.0/16 for the life of the process."""

    def __init__(self, preferred=None):
        os.makedirs(LOCK_DIR, exist_ok=True)
        candidates = list(range(100, 250))
        if preferred in candidates:
            candidates.remove(preferred)
            candidates.insert(0, preferred)
        for block in candidates:
            handle = open(os.path.join(LOCK_DIR, "%d.lock" % block), "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self.block = block
            self._handle = handle
            return
        raise RuntimeError("no free 127.x.0.0/16 block for a sandbox (all of 100-249 are locked)")

    def release(self):
        self._handle.close()


class Pool:
    """Addresses 127.B.<lo..hi>.<1..254>, reused after release."""

    def __init__(self, block, lo, hi):
        self._free = ["127.%d.%d.%d" % (block, x, y) for x in range(lo, hi + 1) for y in range(1, 255)]
        self._free.reverse()
        self._used = set()

    def allocate(self, wanted=None):
        if wanted:
            if wanted in self._used:
                raise ValueError("address %s is already allocated" % wanted)
            if wanted in self._free:
                self._free.remove(wanted)
            self._used.add(wanted)
            return wanted
        if not self._free:
            raise RuntimeError("address pool exhausted")
        ip = self._free.pop()
        self._used.add(ip)
        return ip

    def release(self, ip):
        if ip in self._used:
            self._used.discard(ip)
            self._free.insert(0, ip)  # reuse late, so a stale client does not hit a new owner

    def contains(self, ip):
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return False
        return ip in self._used


class IPAM:
    def __init__(self, block):
        self.block = block
        self.pods = Pool(block, 0, 127)
        self.services = Pool(block, 128, 254)
