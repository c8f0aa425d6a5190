#!/usr/bin/env bash
# Boots the Linux test guest on QEMU TCG from what src/loader puts in RAM (see qemu-loader-check.ts):
#   test/linux/qemu-loader-check.sh vmlinux|bzImage [RUN] [--smp N] [--mem MiB] [--no-acpi] [--show] [--qemu QEMU ARGS...]
# e.g. test/linux/qemu-loader-check.sh bzImage disk --no-acpi --append bhyvets.file=hello.txt --qemu -drive file=disk.img,if=virtio,format=raw
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node_modules/.bin/vite-node test/linux/qemu-loader-check.ts -- "$@"
