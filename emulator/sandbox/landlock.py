"""Kernel confinement of the process-tier runner with Linux Landlock, where the kernel supports it.

The guards in ``restricted_policy.py`` are Python-level; Landlock makes the kernel enforce the essentials
even if they are bypassed: files are written only under the scratch dir (cwd) and ``MPLCONFIGDIR``, read
only from the Python installation and a few system paths, TCP bind/connect is refused, and signals and
abstract unix sockets stay inside the runner's own domain (the server runs as the same user).

The runner calls ``confine()`` on itself (through ``restricted_policy``) before it answers; the server only
asks ``landlock_abi()`` to describe the tier. Like the policy, this module is imported inside the runner
process and must stay importable without the rest of the emulator (stdlib only).
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterable
from typing import Any

_LANDLOCK_SYSCALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}  # create, add_rule, restrict
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | 1 << 14 | 1 << 15  # + truncate, ioctl_dev
_READ_RIGHTS = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
_SYSTEM_READABLE = frozenset({
    "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/usr/share/zoneinfo", "/usr/share/fonts",
    "/etc/fonts", "/etc/localtime", "/etc/ld.so.cache", "/dev/null", "/dev/urandom", "/proc/cpuinfo",
    "/sys/devices/system/cpu",
})  # fmt: skip


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when unavailable (other kernel, architecture or LSM list)."""
    numbers = _LANDLOCK_SYSCALLS.get(os.uname().machine)
    if numbers is None:
        return 0
    version = _libc().syscall(numbers[0], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


def confine(writable: Iterable[str] = (), readable: Iterable[str] = ()) -> int:
    """Confine this process (and what it starts) with Landlock; returns the ABI used, 0 if unavailable.

    Without arguments: write under the cwd and ``MPLCONFIGDIR``; read the Python installation (prefixes,
    ``sys.path``) and ``_SYSTEM_READABLE``. Raises ``OSError`` if Landlock is there but a step fails.
    """
    abi = landlock_abi()
    if abi == 0:
        return 0
    create, add_rule, restrict = _LANDLOCK_SYSCALLS[os.uname().machine]
    libc = _libc()
    fs = (
        (1 << 13) - 1
        | (1 << 13 if abi >= 2 else 0)
        | (1 << 14 if abi >= 3 else 0)
        | (1 << 15 if abi >= 5 else 0)
    )
    attr = _RulesetAttr(fs, 0b11 if abi >= 4 else 0, 0b11 if abi >= 6 else 0)  # tcp bind+connect; unix+signal
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        default_writable = [os.getcwd(), os.environ.get("MPLCONFIGDIR", "")]
        default_readable = [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)]
        default_readable += [*sys.path, *_SYSTEM_READABLE, f"/proc/{os.getpid()}"]
        rules = [(path, _READ_RIGHTS) for path in [*default_readable, *readable]]
        rules += [(path, fs) for path in [*default_writable, *writable]]
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:  # a path this machine does not have
                continue
            try:
                rights = access & fs if os.path.isdir(path) else access & fs & _FS_FILE_RIGHTS
                rule = _PathBeneathAttr(rights, fd)
                if libc.syscall(
                    add_rule, ruleset, ctypes.c_uint32(1), ctypes.byref(rule), ctypes.c_uint32(0)
                ):
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
            finally:
                os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0):  # PR_SET_NO_NEW_PRIVS: required to restrict without privileges
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(restrict, ruleset, ctypes.c_uint32(0)):
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi
