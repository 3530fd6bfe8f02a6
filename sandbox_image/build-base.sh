#!/usr/bin/env bash
# Build the sandbox's base image from Debian packages when no container registry can be reached.
#
#   build-base.sh MIRROR TAG [SUITE]
#
# debootstrap (--variant=minbase) a Debian root file system with python3 and the science stack as Debian
# packages (so no pip is needed inside), trim it, and `docker import` it as TAG. Called by
# emulator/sandbox/image.py, which picks MIRROR from the machine's apt sources and derives TAG from a hash of
# this script and the package list, so the base is built once per machine. Needs root (debootstrap).
set -euo pipefail

mirror=${1:?usage: build-base.sh MIRROR TAG [SUITE]}
tag=${2:?usage: build-base.sh MIRROR TAG [SUITE]}
suite=${3:-bookworm}
packages=python3,python3-numpy,python3-pandas,python3-matplotlib,python3-sympy,python3-scipy

if [ "$(id -u)" != 0 ]; then
    echo "build-base.sh: debootstrap needs root; run as root or build with a pullable BASE_IMAGE" >&2
    exit 1
fi
command -v debootstrap >/dev/null || { echo "build-base.sh: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/emulator-base.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT

echo "debootstrap $suite from $mirror into $rootfs (packages: $packages)"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror"

echo "removing build-time packages (compilers, headers) pulled in by python3-scipy -> python3-pythran"
# Nothing runs apt in the sandbox, so leaving dpkg's dependency records unsatisfied is harmless; no compiler
# at run time is a hardening rule (spec/sandbox.md) and halves the image.
build_only=$(chroot "$rootfs" dpkg-query -Wf '${Package}\n' \
    | grep -E -e '-dev$' -e '^(gcc|g\+\+|cpp)(-[0-9]+)?$' -e '^(libbinutils|binutils.*|python3-pythran)$' \
        -e '^lib(asan|tsan|ubsan|lsan|hwasan|itm|cc1|gprofng|ctf|ctf-nobfd|isl|mpc|mpfr)[0-9]+$' \
        -e '^(python3-tk|python3-pil.imagetk|tk8.6-blt2.5|libtk8.6|libtcl8.6|tcl8.6|tk8.6)$' \
        -e '^(perl|perl-modules-[0-9.]+|libperl[0-9.]+)$' || true)
if [ -n "$build_only" ]; then
    # shellcheck disable=SC2086
    chroot "$rootfs" dpkg --purge --force-depends $build_only >/dev/null 2>&1
fi

echo "checking the science stack still imports"
chroot "$rootfs" env MPLBACKEND=Agg python3 -c \
    "import numpy, pandas, scipy.optimize, scipy.stats, sympy, matplotlib.pyplot, ctypes, sqlite3"

echo "trimming the root file system"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
       "$rootfs"/usr/share/locale/* "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/root/.cache
# Precompile the standard library and the science stack: the image's root is read-only at run time, so
# bytecode that is not in the image would be recompiled by every new interpreter.
chroot "$rootfs" python3 -m compileall -q -j 0 /usr/lib/python3 /usr/lib/python3.* >/dev/null 2>&1 || true

echo "importing as $tag"
tar --numeric-owner --xattrs -C "$rootfs" -c . \
    | docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --message "emulator sandbox base: debootstrap $suite minbase + $packages" \
        - "$tag" >/dev/null
echo "built $tag"
