"""Container entry point: finish hardening the process, then exec the runner (stdlib only).

The container's command is ``python3 -u /opt/emulator/launch.py``; docker's init (``init=True``) is PID 1
and this process is its only child, so after ``execv`` the runner is that child and its stdin/stdout are the
attached stdio the host talks to.

1. **io_uring is denied.** docker 20.10's default seccomp profile still allows ``io_uring_setup``,
   ``io_uring_enter`` and ``io_uring_register`` (a frequent source of kernel privilege escalations; newer
   engines deny them). Rather than ship a fork of the engine's whole default profile, we keep the engine's
   default and *stack* a second, tiny seccomp filter on top of it: seccomp filters accumulate, are
   inherited across fork and execve, and can never be removed, so user code cannot undo it. The numbers
   425-427 are the same on every architecture that uses the generic syscall table (x86-64, i386, arm64,
   arm); the x32 bit is masked off. If the filter cannot be installed the container exits (fail closed).
2. **matplotlib's font cache** is built into the image under ``/opt/emulator/mpl`` and copied into the
   writable ``MPLCONFIGDIR`` (a tmpfs), so a conversation's first plot neither rebuilds it nor prints the
   "building the font cache" warning into the user's stderr.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import struct
import sys

RUNNER = "/opt/emulator/runner.py"
PREBUILT_MPL_CACHE = "/opt/emulator/mpl"

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
X32_SYSCALL_BIT = 0x40000000
IO_URING_FIRST, IO_URING_LAST = 425, 427  # io_uring_setup, io_uring_enter, io_uring_register

# classic BPF opcodes
BPF_LD_W_ABS = 0x20
BPF_ALU_AND_K = 0x54
BPF_JMP_JGE_K = 0x35
BPF_JMP_JGT_K = 0x25
BPF_RET_K = 0x06


def io_uring_filter() -> bytes:
    """The BPF program: ``nr & ~X32 in [425, 427]`` -> EPERM, everything else -> allow (the engine's own
    default profile, applied before this one, still decides everything else)."""
    program = [
        (BPF_LD_W_ABS, 0, 0, 0),  # A = seccomp_data.nr
        (BPF_ALU_AND_K, 0, 0, 0xFFFFFFFF & ~X32_SYSCALL_BIT),
        (BPF_JMP_JGE_K, 0, 2, IO_URING_FIRST),  # A >= 425 ? next : allow
        (BPF_JMP_JGT_K, 1, 0, IO_URING_LAST),  # A > 427 ? allow : deny
        (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    return b"".join(struct.pack("=HBBI", *insn) for insn in program)


def deny_io_uring() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    code = io_uring_filter()
    filters = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(code) // 8, ctypes.addressof(filters))
    # no_new_privs is already set by docker (security_opt no-new-privileges); setting it again is a no-op and
    # makes this script safe under any engine configuration.
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def seed_matplotlib_cache() -> None:
    target = os.environ.get("MPLCONFIGDIR")
    if target and os.path.isdir(PREBUILT_MPL_CACHE) and not os.path.exists(target):
        shutil.copytree(PREBUILT_MPL_CACHE, target)


def main() -> None:
    try:
        deny_io_uring()
    except OSError as exc:
        print(f"launch.py: cannot install the io_uring seccomp filter: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    try:
        seed_matplotlib_cache()
    except OSError as exc:  # a slower first plot, not a reason to refuse service
        print(f"launch.py: matplotlib cache not seeded: {exc}", file=sys.stderr)
    os.execv(sys.executable, [sys.executable, "-u", RUNNER, *sys.argv[1:]])


if __name__ == "__main__":
    main()
