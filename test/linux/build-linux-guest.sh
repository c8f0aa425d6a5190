#!/usr/bin/env bash
# Builds the Linux test guest from Debian's packages (apt-get download +
# dpkg-deb -x, nothing installed on the host) into test/linux/cache/out/:
#   bzImage            the linux-image package's /boot/vmlinuz-*
#   vmlinux            the ELF kernel decompressed from it (PVH note included)
#   initramfs.cpio.gz  busybox-static, /init (see InitScript.ts), virtio/ext4 modules
#   guest.json         what was built from which packages
# Usage: test/linux/build-linux-guest.sh [CACHE_DIR]
# Prints the artifacts as JSON; exits 3 with the reason when the packages cannot be had.
# Reruns are instant: downloads, unpacked packages and outputs are cached (delete the cache to refresh).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node_modules/.bin/vite-node test/linux/build-linux-guest.ts -- "$@"
