import * as Effect from "effect/Effect"
import { describe, expect, it } from "@effect/vitest"
import { bhyveUsage, parseBhyveArgs } from "../../src/cli/BhyveArgs.js"
import { BhyveUsageError } from "../../src/cli/BhyveUsageError.js"
import { boot, help, K, restore, usageError } from "./helpers.js"

describe("bhyve command line: the vmname", () => {
  it.effect("the single operand is the vmname", () =>
    Effect.map(boot(...K, "guest-1.test_vm"), (c) => expect(c.name).toBe("guest-1.test_vm")))

  it.effect("a missing vmname is an error", () =>
    Effect.map(usageError(...K), (m) => expect(m).toBe("missing vmname")))

  it.effect("the vmname may come from -o name=", () =>
    Effect.map(boot(...K, "-o", "name=fromconfig"), (c) => expect(c.name).toBe("fromconfig")))

  it.effect("the operand wins over -o name=", () =>
    Effect.map(boot(...K, "-o", "name=fromconfig", "operand"), (c) => expect(c.name).toBe("operand")))

  it.effect("a vmname with characters outside [A-Za-z0-9_.-] is refused", () =>
    Effect.map(usageError(...K, "my vm"), (m) =>
      expect(m).toBe("vmname 'my vm': a vmname may contain only letters, digits, '_', '.' and '-'")))

  it.effect("a vmname of 31 characters is accepted", () =>
    Effect.map(boot(...K, "a".repeat(31)), (c) => expect(c.name).toBe("a".repeat(31))))

  it.effect("a vmname longer than 31 characters is refused", () =>
    Effect.map(usageError(...K, "a".repeat(32)), (m) =>
      expect(m).toBe(`vmname '${"a".repeat(32)}': a vmname is at most 31 characters (this one has 32)`)))

  it.effect("'..' is not a vmname", () =>
    Effect.map(usageError(...K, ".."), (m) => expect(m).toBe("vmname '..': '..' cannot be a vmname")))

  it.effect("options after the vmname are refused, as bhyve's getopt does not permute", () =>
    Effect.map(usageError(...K, "vm", "-c", "2"), (m) =>
      expect(m).toBe("unexpected argument '-c' after vmname 'vm': options must come before the vmname")))

  it.effect("a second operand is refused", () =>
    Effect.map(usageError(...K, "vm", "other"), (m) =>
      expect(m).toBe("too many arguments: expected one vmname, got 'vm', 'other'")))

  it.effect("'--' lets a vmname follow that starts like an option would, and is then checked as a vmname", () =>
    Effect.map(boot(...K, "--", "-vm"), (c) => expect(c.name).toBe("-vm")))
})

describe("bhyve command line: defaults", () => {
  it.effect("a minimal command line gets 1 vCPU, 256M, no serial ports, no slots, a lenient bus", () =>
    Effect.map(boot(...K, "vm"), (c) =>
      expect(c).toEqual({
        name: "vm",
        cpus: 1,
        memoryBytes: 256 * 1024 * 1024,
        boot: { kernel: "/boot/kernel.elf", cmdline: "" },
        serial: [],
        slots: [],
        strictBus: false,
        options: {}
      })))

  it.effect("boot.kernel is required", () =>
    Effect.map(usageError("vm"), (m) => expect(m).toBe("boot.kernel is required: pass -o boot.kernel=PATH")))

  it.effect("an empty boot.kernel is refused", () =>
    Effect.map(usageError("-o", "boot.kernel=", "vm"), (m) =>
      expect(m).toBe("-o boot.kernel=: boot.kernel must not be empty")))
})

describe("bhyve command line: -c", () => {
  it.effect("-c N sets the vCPU count", () => Effect.map(boot(...K, "-c", "4", "vm"), (c) => expect(c.cpus).toBe(4)))

  it.effect("-cN with the count attached works as in getopt", () =>
    Effect.map(boot(...K, "-c4", "vm"), (c) => expect(c.cpus).toBe(4)))

  it.effect("-c cpus=N is the same as -c N", () =>
    Effect.map(boot(...K, "-c", "cpus=3", "vm"), (c) => expect(c.cpus).toBe(3)))

  it.effect("a topology alone gives sockets x cores x threads vCPUs", () =>
    Effect.map(boot(...K, "-c", "sockets=2,cores=2,threads=2", "vm"), (c) => {
      expect(c.cpus).toBe(8)
      expect(c.options).toEqual({ sockets: "2", cores: "2", threads: "2" })
    }))

  it.effect("a topology that multiplies to the count is accepted", () =>
    Effect.map(boot(...K, "-c", "4,sockets=1,cores=2,threads=2", "vm"), (c) => expect(c.cpus).toBe(4)))

  it.effect("a topology that does not multiply to the count is refused", () =>
    Effect.map(usageError(...K, "-c", "4,sockets=3", "vm"), (m) =>
      expect(m).toBe("-c 4,sockets=3: CPU topology (3 sockets, 1 cores, 1 threads) does not match 4 vCPUs")))

  it.effect("sockets default to the count, as in bhyve, so cores alone must divide nothing", () =>
    Effect.map(usageError(...K, "-c", "4,cores=2", "vm"), (m) =>
      expect(m).toBe("-c 4,cores=2: CPU topology (4 sockets, 2 cores, 1 threads) does not match 4 vCPUs")))

  it.effect("a topology check names every flag that took part", () =>
    Effect.map(usageError(...K, "-c", "4", "-o", "sockets=3", "vm"), (m) =>
      expect(m).toBe("-c 4 and -o sockets=3: CPU topology (3 sockets, 1 cores, 1 threads) does not match 4 vCPUs")))

  it.effect("a topology of more than 64 vCPUs is refused", () =>
    Effect.map(usageError(...K, "-c", "sockets=8,cores=16", "vm"), (m) =>
      expect(m).toBe("-c sockets=8,cores=16: CPU topology (8 sockets, 16 cores, 1 threads) makes 128 vCPUs; at most 64 are supported")))

  it.effect("64 vCPUs are accepted", () => Effect.map(boot(...K, "-c", "64", "vm"), (c) => expect(c.cpus).toBe(64)))

  it.effect("65 vCPUs are refused", () =>
    Effect.map(usageError(...K, "-c", "65", "vm"), (m) => expect(m).toBe("-c 65: cpus must be from 1 to 64, not 65")))

  it.effect("0 vCPUs are refused", () =>
    Effect.map(usageError(...K, "-c", "0", "vm"), (m) => expect(m).toBe("-c 0: cpus must be from 1 to 64, not 0")))

  it.effect("a count that is not a number is refused", () =>
    Effect.map(usageError(...K, "-c", "two", "vm"), (m) =>
      expect(m).toBe("-c two: cpus must be a whole number from 1 to 64, not 'two'")))

  it.effect("an unknown topology key is refused", () =>
    Effect.map(usageError(...K, "-c", "4,dies=2", "vm"), (m) =>
      expect(m).toBe("-c 4,dies=2: unknown CPU topology key 'dies' (expected cpus, sockets, cores or threads)")))

  it.effect("an empty topology item is refused", () =>
    Effect.map(usageError(...K, "-c", "4,", "vm"), (m) => expect(m).toBe("-c 4,: empty item in CPU topology")))

  it.effect("the last -c wins", () => Effect.map(boot(...K, "-c", "2", "-c", "3", "vm"), (c) => expect(c.cpus).toBe(3)))

  it.effect("-o cpus=N sets the count too", () =>
    Effect.map(boot(...K, "-o", "cpus=2", "vm"), (c) => expect(c.cpus).toBe(2)))
})

describe("bhyve command line: -m", () => {
  it.effect("-m with a suffix sets the memory size", () =>
    Effect.map(boot(...K, "-m", "1G", "vm"), (c) => expect(c.memoryBytes).toBe(1024 * 1024 * 1024)))

  it.effect("-m with a bare number counts megabytes", () =>
    Effect.map(boot(...K, "-m", "64", "vm"), (c) => expect(c.memoryBytes).toBe(64 * 1024 * 1024)))

  it.effect("-o memory.size= is the same as -m", () =>
    Effect.map(boot(...K, "-o", "memory.size=128M", "vm"), (c) => expect(c.memoryBytes).toBe(128 * 1024 * 1024)))

  it.effect("an unknown suffix is reported with the flag", () =>
    Effect.map(usageError(...K, "-m", "12Q", "vm"), (m) =>
      expect(m).toBe("-m 12Q: unknown size suffix 'Q' (expected K, M, G or T)")))

  it.effect("a bad memory.size is reported with the -o that set it", () =>
    Effect.map(usageError(...K, "-o", "memory.size=big", "vm"), (m) =>
      expect(m).toBe("-o memory.size=big: 'big' is not a size (expected a number with an optional K, M, G or T suffix)")))

  it.effect("a zero size is refused", () =>
    Effect.map(usageError(...K, "-m", "0", "vm"), (m) => expect(m).toBe("-m 0: memory size must not be zero")))

  it.effect("more than 1T is refused", () =>
    Effect.map(usageError(...K, "-m", "2T", "vm"), (m) =>
      expect(m).toBe("-m 2T: memory size 2T is larger than the 1T limit")))

  it.effect("an invalid -m is reported even when a later -m would replace it", () =>
    Effect.map(usageError(...K, "-m", "12Q", "-m", "1G", "vm"), (m) => expect(m).toMatch(/^-m 12Q: /)))
})

describe("bhyve command line: -l", () => {
  it.effect("com1,stdio puts COM1 on the terminal", () =>
    Effect.map(boot(...K, "-l", "com1,stdio", "vm"), (c) =>
      expect(c.serial).toEqual([{ port: "com1", backend: { _tag: "stdio" } }])))

  it.effect("a path with '/' is a file backend", () =>
    Effect.map(boot(...K, "-l", "com2,/tmp/com2.log", "vm"), (c) =>
      expect(c.serial).toEqual([{ port: "com2", backend: { _tag: "file", path: "/tmp/com2.log" } }])))

  it.effect("a relative path with '/' is a file backend", () =>
    Effect.map(boot(...K, "-l", "com1,./console.log", "vm"), (c) =>
      expect(c.serial).toEqual([{ port: "com1", backend: { _tag: "file", path: "./console.log" } }])))

  it.effect("file:PATH is a file backend whatever the path looks like", () =>
    Effect.map(boot(...K, "-l", "com1,file:console.log", "vm"), (c) =>
      expect(c.serial).toEqual([{ port: "com1", backend: { _tag: "file", path: "console.log" } }])))

  it.effect("socket:PATH is a Unix socket backend", () =>
    Effect.map(boot(...K, "-l", "com1,socket:/run/vm.com1", "vm"), (c) =>
      expect(c.serial).toEqual([{ port: "com1", backend: { _tag: "socket", path: "/run/vm.com1" } }])))

  it.effect("everything after the first comma is the backend, commas included", () =>
    Effect.map(boot(...K, "-l", "com1,/tmp/a,b", "vm"), (c) =>
      expect(c.serial).toEqual([{ port: "com1", backend: { _tag: "file", path: "/tmp/a,b" } }])))

  it.effect("the port name is case-insensitive, as in bhyve", () =>
    Effect.map(boot(...K, "-l", "COM1,stdio", "vm"), (c) => expect(c.serial[0].port).toBe("com1")))

  it.effect("com1 and com2 may both be configured, in command-line order", () =>
    Effect.map(boot(...K, "-l", "com2,stdio", "-l", "com1,socket:/s", "vm"), (c) =>
      expect(c.serial.map((s) => s.port)).toEqual(["com2", "com1"])))

  it.effect("-o lpc.com1.path= is the same as -l com1,", () =>
    Effect.map(boot(...K, "-o", "lpc.com1.path=stdio", "vm"), (c) =>
      expect(c.serial).toEqual([{ port: "com1", backend: { _tag: "stdio" } }])))

  it.effect("a port configured twice is refused, naming the first", () =>
    Effect.map(usageError(...K, "-l", "com1,stdio", "-l", "com1,/tmp/x", "vm"), (m) =>
      expect(m).toBe("-l com1,/tmp/x: com1 is already configured by -l com1,stdio")))

  it.effect("a port configured by -l and by -o is configured twice", () =>
    Effect.map(usageError(...K, "-l", "com1,stdio", "-o", "lpc.com1.path=stdio", "vm"), (m) =>
      expect(m).toBe("-o lpc.com1.path=stdio: com1 is already configured by -l com1,stdio")))

  it.effect("a bare word backend is refused rather than created as a file", () =>
    Effect.map(usageError(...K, "-l", "com1,stdout", "vm"), (m) =>
      expect(m).toBe("-l com1,stdout: unknown serial backend 'stdout' (expected stdio, socket:PATH, file:PATH or a path containing '/')")))

  it.effect("bhyve's tcp= backend is an unknown backend here", () =>
    Effect.map(usageError(...K, "-l", "com1,tcp=127.0.0.1:4444", "vm"), (m) =>
      expect(m).toMatch(/^-l com1,tcp=127\.0\.0\.1:4444: unknown serial backend 'tcp=127\.0\.0\.1:4444'/)))

  it.effect("socket: without a path is refused", () =>
    Effect.map(usageError(...K, "-l", "com1,socket:", "vm"), (m) =>
      expect(m).toBe("-l com1,socket:: missing socket path after 'socket:'")))

  it.effect("a port without a backend is refused", () =>
    Effect.map(usageError(...K, "-l", "com1", "vm"), (m) =>
      expect(m).toBe("-l com1: missing serial backend for com1 (expected stdio, socket:PATH, file:PATH or a path containing '/')")))

  it.effect("a port with an empty backend is refused", () =>
    Effect.map(usageError(...K, "-l", "com1,", "vm"), (m) =>
      expect(m).toBe("-l com1,: missing serial backend (expected stdio, socket:PATH, file:PATH or a path containing '/')")))

  it.effect("com3 is refused as unsupported", () =>
    Effect.map(usageError(...K, "-l", "com3,stdio", "vm"), (m) =>
      expect(m).toBe("-l com3,stdio: com3 is not supported in bhyve-ts (only com1 and com2)")))

  it.effect("an unknown LPC device is named", () =>
    Effect.map(usageError(...K, "-l", "lpt1,stdio", "vm"), (m) =>
      expect(m).toBe("-l lpt1,stdio: unknown LPC device 'lpt1' (expected com1 or com2)")))

  it.effect("a UEFI boot ROM is refused with the way to boot instead", () =>
    Effect.map(usageError("-l", "bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI.fd", "vm"), (m) =>
      expect(m).toBe("-l bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI.fd: UEFI boot ROM is not supported; use -o boot.kernel=PATH")))

  it.effect("-o lpc.bootrom= is refused the same way", () =>
    Effect.map(usageError("-o", "lpc.bootrom=/x.fd", "vm"), (m) =>
      expect(m).toBe("-o lpc.bootrom=/x.fd: UEFI boot ROM is not supported; use -o boot.kernel=PATH")))

  it.effect("-l help lists the LPC devices", () => Effect.map(help("-l", "help"), (t) => expect(t).toBe("com1\ncom2\n")))
})

describe("bhyve command line: -s", () => {
  it.effect("-s slot,lpc adds the LPC bridge on bus 0, function 0", () =>
    Effect.map(boot(...K, "-s", "31,lpc", "vm"), (c) =>
      expect(c.slots).toEqual([{ bus: 0, slot: 31, function: 0, emulation: "lpc", options: "" }])))

  it.effect("-s slot:function,lpc", () =>
    Effect.map(boot(...K, "-s", "31:0,lpc", "vm"), (c) =>
      expect(c.slots).toEqual([{ bus: 0, slot: 31, function: 0, emulation: "lpc", options: "" }])))

  it.effect("-s bus:slot:function,lpc", () =>
    Effect.map(boot(...K, "-s", "0:30:1,lpc", "vm"), (c) =>
      expect(c.slots).toEqual([{ bus: 0, slot: 30, function: 1, emulation: "lpc", options: "" }])))

  it.effect("the option string after the emulation is kept", () =>
    Effect.map(boot(...K, "-s", "31,lpc,some,options=here", "vm"), (c) => expect(c.slots[0].options).toBe("some,options=here")))

  it.effect("a not-yet-implemented emulation is refused with the whole argument", () =>
    Effect.map(usageError(...K, "-s", "2,ahci-hd,/dev/ada0", "vm"), (m) =>
      expect(m).toBe("-s 2,ahci-hd,/dev/ada0: emulation 'ahci-hd' is not implemented yet in bhyve-ts")))

  it.effect("bhyve's usual PCI devices are accepted with their options", () =>
    Effect.map(boot(...K, "-s", "0,hostbridge", "-s", "2,virtio-blk,/tmp/disk.img,ro", "-s", "3,virtio-rnd", "-s", "31,lpc", "vm"), (c) =>
      expect(c.slots.map((s) => `${s.slot},${s.emulation}${s.options ? `,${s.options}` : ""}`)).toEqual([
        "0,hostbridge", "2,virtio-blk,/tmp/disk.img,ro", "3,virtio-rnd", "31,lpc"
      ])))

  it.effect("an unknown emulation is named", () =>
    Effect.map(usageError(...K, "-s", "2,xyz", "vm"), (m) => expect(m).toBe("-s 2,xyz: unknown emulation 'xyz'")))

  it.effect("an occupied slot is refused, naming the flag that took it", () =>
    Effect.map(usageError(...K, "-s", "31,lpc", "-s", "31:0,lpc", "vm"), (m) =>
      expect(m).toBe("-s 31:0,lpc: PCI slot 0:31:0 is already occupied by -s 31,lpc")))

  it.effect("a second LPC bridge is refused", () =>
    Effect.map(usageError(...K, "-s", "31,lpc", "-s", "30,lpc", "vm"), (m) =>
      expect(m).toBe("-s 30,lpc: only one LPC bridge is allowed (-s 31,lpc added one)")))

  it.effect("the LPC bridge must be on bus 0", () =>
    Effect.map(usageError(...K, "-s", "1:31:0,lpc", "vm"), (m) =>
      expect(m).toBe("-s 1:31:0,lpc: the LPC bridge must be on bus 0")))

  it.effect("an out-of-range slot is reported with the flag", () =>
    Effect.map(usageError(...K, "-s", "32,lpc", "vm"), (m) => expect(m).toBe("-s 32,lpc: slot 32 is out of range 0..31")))

  it.effect("-o pci.B.S.F.device= adds a slot as -s does", () =>
    Effect.map(boot(...K, "-o", "pci.0.31.0.device=lpc", "vm"), (c) =>
      expect(c.slots).toEqual([{ bus: 0, slot: 31, function: 0, emulation: "lpc", options: "" }])))

  it.effect("-o pci.B.S.F.device= checks the emulation as -s does", () =>
    Effect.map(usageError(...K, "-o", "pci.0.2.0.device=e1000", "vm"), (m) =>
      expect(m).toBe("-o pci.0.2.0.device=e1000: emulation 'e1000' is not implemented yet in bhyve-ts")))

  it.effect("-s help lists the emulations with their options, marking those not implemented", () =>
    Effect.map(help("-s", "help"), (t) => {
      expect(t.split("\n")).toContain("lpc")
      expect(t.split("\n")).toContain("virtio-blk,PATH[,ro][,sectorsize=LOGICAL[/PHYSICAL]][,ser=ID][,nodelete][,sync]")
      expect(t.split("\n")).toContain(
        "virtio-net[,tapN | ,tap=IFNAME | ,unix=LOCALPATH:PEERPATH | ,udp=LOCALPORT:PEERPORT][,mac=xx:xx:xx:xx:xx:xx]"
      )
      expect(t.split("\n")).toContain("ahci-hd (not implemented yet in bhyve-ts)")
    }))
})

describe("bhyve command line: -o", () => {
  it.effect("boot.cmdline keeps spaces and '=' in its value", () =>
    Effect.map(boot(...K, "-o", "boot.cmdline=console=ttyS0 root=/dev/vda1 quiet", "vm"), (c) =>
      expect(c.boot.cmdline).toBe("console=ttyS0 root=/dev/vda1 quiet")))

  it.effect("repeated -o flags all apply", () =>
    Effect.map(boot("-o", "boot.kernel=/k", "-o", "boot.cmdline=x", "-o", "bus.strict=true", "vm"), (c) => {
      expect(c.boot).toEqual({ kernel: "/k", cmdline: "x" })
      expect(c.strictBus).toBe(true)
    }))

  it.effect("the last -o of a variable wins", () =>
    Effect.map(boot("-o", "boot.kernel=/a", "-o", "boot.kernel=/b", "vm"), (c) => expect(c.boot.kernel).toBe("/b")))

  it.effect("unknown variables are kept in options", () =>
    Effect.map(boot(...K, "-o", "virtio.custom=1", "-o", "foo=bar=baz", "vm"), (c) =>
      expect(c.options).toEqual({ "virtio.custom": "1", foo: "bar=baz" })))

  it.effect("bus.strict accepts bhyve's boolean spellings", () =>
    Effect.map(boot(...K, "-o", "bus.strict=on", "vm"), (c) => expect(c.strictBus).toBe(true)))

  it.effect("bus.strict refuses other values", () =>
    Effect.map(usageError(...K, "-o", "bus.strict=maybe", "vm"), (m) =>
      expect(m).toBe("-o bus.strict=maybe: bus.strict must be true or false, not 'maybe'")))

  it.effect("bhyve's x86.strictio sets bus.strict", () =>
    Effect.map(boot(...K, "-o", "x86.strictio=true", "vm"), (c) => expect(c.strictBus).toBe(true)))

  it.effect("-o without '=' is refused", () =>
    Effect.map(usageError(...K, "-o", "boot.kernel", "vm"), (m) => expect(m).toBe("-o boot.kernel: expected var=value")))

  it.effect("-o with an empty name is refused", () =>
    Effect.map(usageError(...K, "-o", "=x", "vm"), (m) => expect(m).toBe("-o =x: empty variable name")))

  it.effect("-o with an empty name component is refused", () =>
    Effect.map(usageError(...K, "-o", "a..b=x", "vm"), (m) => expect(m).toBe("-o a..b=x: invalid variable name 'a..b'")))

  it.effect("-o __proto__= is refused rather than lost", () =>
    Effect.map(usageError(...K, "-o", "__proto__=x", "vm"), (m) =>
      expect(m).toBe("-o __proto__=x: invalid variable name '__proto__'")))

  it.effect("a boolean variable set by a bhyve flag is validated when given with -o", () =>
    Effect.map(usageError(...K, "-o", "acpi_tables=sure", "vm"), (m) =>
      expect(m).toBe("-o acpi_tables=sure: acpi_tables must be true or false, not 'sure'")))

  it.effect("uuid is validated and kept in lower case", () =>
    Effect.map(boot(...K, "-U", "6A2E1D6C-0000-4000-8000-0123456789AB", "vm"), (c) =>
      expect(c.options.uuid).toBe("6a2e1d6c-0000-4000-8000-0123456789ab")))

  it.effect("a malformed uuid is refused", () =>
    Effect.map(usageError(...K, "-U", "nope", "vm"), (m) =>
      expect(m).toBe("-U nope: uuid 'nope' is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")))
})

describe("bhyve command line: flags accepted for compatibility", () => {
  it.effect("-A -H -P -u -w -x -W -S -D -Y -a -C -I are accepted and recorded as bhyve's variables", () =>
    Effect.map(boot(...K, "-A", "-H", "-P", "-u", "-w", "-W", "-S", "-D", "-Y", "-C", "-I", "vm"), (c) =>
      expect(c.options).toEqual({
        acpi_tables: "true",
        "x86.vmexit_on_hlt": "true",
        "x86.vmexit_on_pause": "true",
        "rtc.use_localtime": "false",
        "x86.strictmsr": "false",
        virtio_msix: "false",
        "memory.wired": "true",
        destroy_on_poweroff: "true",
        "x86.mptable": "false",
        "memory.guest_in_core": "true"
      })))

  it.effect("-x and -a set the same variable; the last wins", () =>
    Effect.map(boot(...K, "-a", "-x", "vm"), (c) => expect(c.options["x86.x2apic"]).toBe("true")))

  it.effect("clustered flags are accepted", () =>
    Effect.map(boot(...K, "-AHPuw", "vm"), (c) => expect(Object.keys(c.options)).toHaveLength(5)))

  it.effect("-e makes the bus strict", () => Effect.map(boot(...K, "-e", "vm"), (c) => expect(c.strictBus).toBe(true)))

  it.effect("-p vcpu:hostcpu accumulates vcpu.N.cpuset as bhyve does", () =>
    Effect.map(boot(...K, "-p", "0:2", "-p", "0:3", "-p", "1:4", "vm"), (c) =>
      expect(c.options).toEqual({ "vcpu.0.cpuset": "2,3", "vcpu.1.cpuset": "4" })))

  it.effect("-p with another shape is refused", () =>
    Effect.map(usageError(...K, "-p", "0", "vm"), (m) => expect(m).toBe("-p 0: expected vcpu:hostcpu")))

  it.effect("-K sets keyboard.layout", () =>
    Effect.map(boot(...K, "-K", "us_unix", "vm"), (c) => expect(c.options["keyboard.layout"]).toBe("us_unix")))

  it.effect("-G (gdb stub) is refused", () =>
    Effect.map(usageError(...K, "-G", "1234", "vm"), (m) => expect(m).toBe("-G 1234: the gdb stub is not supported in bhyve-ts")))

  it.effect("-f (fw_cfg) is refused", () =>
    Effect.map(usageError(...K, "-f", "name=opt/x,string=y", "vm"), (m) =>
      expect(m).toBe("-f name=opt/x,string=y: fw_cfg items are not supported in bhyve-ts (they serve a UEFI boot ROM)")))
})

describe("bhyve command line: -r", () => {
  it.effect("-r FILE asks for a restore and needs no kernel", () =>
    Effect.map(restore("-r", "/var/vm/snap.ckp", "vm"), (r) => {
      expect(r.snapshot).toBe("/var/vm/snap.ckp")
      expect(r.overrides).toEqual({ name: "vm", boot: {}, serial: [], slots: [], options: {} })
    }))

  it.effect("-r needs no vmname, which the snapshot records", () =>
    Effect.map(restore("-r", "snap.ckp"), (r) => expect(r.overrides.name).toBeUndefined()))

  it.effect("the flags given with -r are overrides, without defaults filled in", () =>
    Effect.map(restore("-r", "snap.ckp", "-m", "1G", "-l", "com1,stdio", "-e", "vm"), (r) =>
      expect(r.overrides).toEqual({
        name: "vm",
        memoryBytes: 1024 * 1024 * 1024,
        boot: {},
        serial: [{ port: "com1", backend: { _tag: "stdio" } }],
        slots: [],
        strictBus: true,
        options: {}
      })))

  it.effect("flags given with -r are still validated", () =>
    Effect.map(usageError("-r", "snap.ckp", "-m", "12Q", "vm"), (m) =>
      expect(m).toBe("-m 12Q: unknown size suffix 'Q' (expected K, M, G or T)")))

  it.effect("-r with an empty file name is refused", () =>
    Effect.map(usageError("-r", "", "vm"), (m) => expect(m).toBe("-r '': missing snapshot file name")))
})

describe("bhyve command line: help and syntax errors", () => {
  it.effect("-h returns the usage text", () => Effect.map(help("-h"), (t) => expect(t).toBe(bhyveUsage)))

  it.effect("--help returns the usage text", () => Effect.map(help("--help"), (t) => expect(t).toBe(bhyveUsage)))

  it.effect("-h wins over a missing vmname and kernel", () => Effect.map(help("-c", "2", "-h"), (t) => expect(t).toBe(bhyveUsage)))

  it.effect("an unknown flag is an error", () => Effect.map(usageError("-Z", "vm"), (m) => expect(m).toBe("unknown option -Z")))

  it.effect("an unknown long option is an error", () =>
    Effect.map(usageError("--memory=1G", "vm"), (m) => expect(m).toBe("unknown option --memory=1G")))

  it.effect("an empty argument is shown as '' in messages", () =>
    Effect.map(usageError(...K, "-m", "", "vm"), (m) => expect(m).toBe("-m '': missing memory size")))

  it.effect("a flag missing its argument is an error", () =>
    Effect.map(usageError("-m"), (m) => expect(m).toBe("option -m requires an argument")))

  it.effect("errors are BhyveUsageError values with the message", () =>
    Effect.map(Effect.flip(parseBhyveArgs(["-Z"])), (e) => {
      expect(e).toBeInstanceOf(BhyveUsageError)
      expect(e._tag).toBe("BhyveUsageError")
      expect(e.message).toBe("unknown option -Z")
    }))

  it("the usage text names every flag bhyve-ts accepts", () => {
    for (const letter of "aACDehHIPSuwWxYcmlsokrpKUGf") expect(bhyveUsage).toContain(`-${letter}`)
  })

  it("the usage text lines fit in 80 columns", () => {
    for (const line of bhyveUsage.split("\n")) expect(line.length).toBeLessThanOrEqual(80)
  })
})

describe("the emulations the command line accepts", () => {
  it("are exactly the ones the PCI layer can build", async () => {
    const { implementedEmulations } = await import("../../src/cli/Emulations.js")
    const { implementedPciEmulations } = await import("../../src/servers/pci/PciSlots.js")
    expect([...implementedEmulations].sort()).toEqual([...implementedPciEmulations].sort())
  })
})
