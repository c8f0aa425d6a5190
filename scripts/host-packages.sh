#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages bhyve-ts needs beyond Node and a C++ toolchain:
#   libunicorn-dev  the software CPU (Unicorn Engine 2, GPL-2), built into the native addon by npm install
#   acpica-tools    iasl, which the firmware-table tests use to disassemble and recompile the ACPI tables
#   xz-utils        xz, which unpacks the Linux test guest's kernel payload and .ko.xz modules (test/linux)
#   e2fsprogs       mke2fs, which makes the ext2 disk image the Linux guest mounts in its virtio-blk test
# Only what is missing is installed; as root, or through sudo.
set -euo pipefail
needed=(libunicorn-dev acpica-tools xz-utils e2fsprogs)
missing=()
for p in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "installing ${missing[*]}" >&2
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
