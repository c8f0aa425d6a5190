import { fileURLToPath } from "node:url"

/**
 * Files the benchmarks run, resolved from the repository root, so the bench
 * works from any working directory. Only the compiled module runs, from
 * dist-bench/bench/Paths.js: two levels below the root.
 */
const root = new URL("../../", import.meta.url)
const at = (path: string) => fileURLToPath(new URL(path, root))

export const ROOT = at(".")
export const GUESTS = {
  piobench: at("test/guests/build/piobench.elf"),
  hello: at("test/guests/build/hello.elf"),
  vblk: at("test/guests/build/vblk.elf"),
  vnet: at("test/guests/build/vnet.elf"),
  compute: at("test/guests/build/compute.elf"),
  memtouch: at("test/guests/build/memtouch.elf")
} as const
/** Host program printing what compute.elf prints for the same cmdline. */
export const COMPUTE_REFERENCE = at("test/guests/build/compute-reference")
/** The minimal C VMM built from bench/baseline/pio-baseline.c by `make -C test/guests`. */
export const C_BASELINE = at("test/guests/build/pio-baseline")
/** The `bhyve` CLI as `npm run build` bundles it (package.json's bin). */
export const BHYVE_CLI = at("dist/bundle/bhyve-main.js")
export const RESULTS_JSON = at("bench/results/latest.json")
