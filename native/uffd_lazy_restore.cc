// Lazy restore of guest RAM through userfaultfd (MODE_MISSING on anonymous
// memory): the guest starts before its RAM is read, and a handler thread
// fills each block the first time anyone (a vCPU in KVM_RUN, the software
// CPU's host loads, a device on the machine thread) touches it: the whole
// block is read from the RAM file, its SHA-256 checked against the manifest,
// and only then copied in (UFFDIO_COPY, which wakes the faulting thread).
// Between faults the same thread installs the remaining blocks in order, so
// after a while all RAM is present; then it unregisters the range (a later
// write-protect registration by a background checkpoint would get EBUSY).
//
// A block that fails its check (or cannot be read) is never installed, and
// the faulting thread must never run on: it may be the machine thread itself,
// blocked in the fault with no way back to JavaScript, and waking it with any
// other content would let guest instructions run on it (the software CPU
// finishes its translated block). So the thread prints one line naming the
// file and the block and ends the process with status 4: no guest
// instruction can run after the failure is found. The same happens if the
// thread itself cannot go on (an unexpected errno, or an injected failure):
// closing the userfaultfd would let the kernel fill the missing pages with
// zeros, so the thread never leaves RAM half restored behind a live guest.
#include <napi.h>

#include "session_registry.h"

#include <linux/userfaultfd.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bhyve {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint8_t kPending = 0, kChecked = 1, kInstalled = 2;

struct Region {
  uint8_t* host;
  uint64_t size;
  uint64_t gpa;
  uint64_t file_offset;
  uint32_t first_block;
};

struct Session {
  int uffd = -1;
  int stop_fd = -1;
  int ram_fd = -1;
  uint64_t block_size = 0;
  bool verify = true;
  int64_t die_after = -1;
  int64_t background_delay_ms = 0;  // tests: faults only for this long, so the fault path is what fills RAM
  std::string prefix;              // "bhyve: FILE: "
  std::vector<Region> regions;
  std::vector<uint8_t> data;       // per block: 1 data, 0 zero
  std::vector<uint8_t> digests;    // per block: 32 bytes of SHA-256
  std::vector<uint8_t> state;      // per block: kPending, kChecked (zero, file checked), kInstalled
  std::vector<uint8_t> buffer;     // one block
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> registered{false};
  std::atomic<bool> complete{false};
  std::atomic<uint32_t> fault_blocks{0};
  std::atomic<uint32_t> background_blocks{0};
  std::atomic<uint64_t> bytes_read{0};
};

SessionRegistry<Session>& sessions = *new SessionRegistry<Session>;

// Ends the process after one line on stderr: see the file comment for why.
[[noreturn]] void Fail(const Session& s, const std::string& what) {
  std::string line = s.prefix + what + "\n";
  ssize_t ignored = write(2, line.data(), line.size());
  (void)ignored;
  _exit(4);
}

const Region& RegionOf(const Session& s, uint32_t block) {
  for (size_t i = s.regions.size(); i-- > 0;)
    if (block >= s.regions[i].first_block) return s.regions[i];
  return s.regions[0];
}

std::string Describe(const Session& s, uint32_t block) {
  const Region& r = RegionOf(s, block);
  char name[96];
  uint64_t gpa = r.gpa + static_cast<uint64_t>(block - r.first_block) * s.block_size;
  snprintf(name, sizeof name, "ram block %u (gpa 0x%llx)", block, static_cast<unsigned long long>(gpa));
  return name;
}

// Whether [at, at + length) of the file is a hole, which reads as zeros by definition.
bool IsHole(int fd, uint64_t at, uint64_t length) {
  off_t data = lseek(fd, static_cast<off_t>(at), SEEK_DATA);
  if (data < 0) return errno == ENXIO;
  return static_cast<uint64_t>(data) >= at + length;
}

// Reads the block into s.buffer, or ends the process saying why not.
void ReadBlock(Session& s, uint32_t block, uint64_t at, uint64_t length) {
  uint64_t done = 0;
  while (done < length) {
    ssize_t got = pread(s.ram_fd, s.buffer.data() + done, length - done, static_cast<off_t>(at + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) Fail(s, Describe(s, block) + ": read failed (" + strerrorname_np(errno) + ")");
    if (got == 0) {
      struct stat st;
      uint64_t size = fstat(s.ram_fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : at + done;
      Fail(s, "truncated: " + Describe(s, block) + " needs " + std::to_string(length) + " bytes at offset " +
                  std::to_string(at) + ", but the file is " + std::to_string(size) + " bytes");
    }
    done += static_cast<uint64_t>(got);
  }
  s.bytes_read.fetch_add(length);
}

bool AllZero(const uint8_t* p, uint64_t n) {
  for (uint64_t i = 0; i < n; i++)
    if (p[i] != 0) return false;
  return true;
}

// UFFDIO_COPY (from = the buffer) or UFFDIO_ZEROPAGE (from = nullptr) of
// [dst, dst + length); pages already present are skipped (EEXIST).
void Install(Session& s, uint32_t block, uint8_t* dst, const uint8_t* from, uint64_t length) {
  uint64_t done = 0;
  while (done < length) {
    int64_t result;
    int rc;
    if (from != nullptr) {
      struct uffdio_copy copy = {};
      copy.dst = reinterpret_cast<uint64_t>(dst + done);
      copy.src = reinterpret_cast<uint64_t>(from + done);
      copy.len = length - done;
      rc = ioctl(s.uffd, UFFDIO_COPY, &copy);
      result = copy.copy;
    } else {
      struct uffdio_zeropage zero = {};
      zero.range.start = reinterpret_cast<uint64_t>(dst + done);
      zero.range.len = length - done;
      rc = ioctl(s.uffd, UFFDIO_ZEROPAGE, &zero);
      result = zero.zeropage;
    }
    if (rc == 0) return;
    int err = errno;
    if (result > 0) done += static_cast<uint64_t>(result);
    if (err == EAGAIN) continue;
    if (err == EEXIST) {
      // A page someone else made present: leave it, go on after it.
      if (result <= 0) done += kPage;
      continue;
    }
    Fail(s, Describe(s, block) + ": lazy restore: " + (from != nullptr ? "UFFDIO_COPY" : "UFFDIO_ZEROPAGE") +
                " failed (" + strerrorname_np(err) + ")");
  }
}

// Reads and checks one block; installs it when `install` (a zero block
// whose file bytes were checked stays missing unless a fault needs it: after
// the unregister the kernel fills it with zeros itself, costing no memory).
void Serve(Session& s, uint32_t block, bool install) {
  const Region& r = RegionOf(s, block);
  uint64_t start = static_cast<uint64_t>(block - r.first_block) * s.block_size;
  uint64_t length = std::min(s.block_size, r.size - start);
  uint64_t at = r.file_offset + start;
  if (s.data[block] == 0) {
    if (s.state[block] == kPending && s.verify && !IsHole(s.ram_fd, at, length)) {
      ReadBlock(s, block, at, length);
      if (!AllZero(s.buffer.data(), length))
        Fail(s, "checksum mismatch in " + Describe(s, block) + ": expected all zero bytes: the file is corrupt");
    }
    s.state[block] = kChecked;
    if (!install) return;
    Install(s, block, r.host + start, nullptr, length);
  } else {
    ReadBlock(s, block, at, length);
    if (s.verify) {
      uint8_t digest[32];
      unsigned int n = 0;
      if (EVP_Digest(s.buffer.data(), length, digest, &n, EVP_sha256(), nullptr) != 1 || n != 32)
        Fail(s, Describe(s, block) + ": lazy restore: SHA-256 failed");
      if (memcmp(digest, s.digests.data() + static_cast<size_t>(block) * 32, 32) != 0)
        Fail(s, "checksum mismatch in " + Describe(s, block) + ": the file is corrupt");
    }
    Install(s, block, r.host + start, s.buffer.data(), length);
  }
  s.state[block] = kInstalled;
}

// The block holding a host address in guest RAM, or -1.
int64_t BlockAt(const Session& s, uint64_t address) {
  for (const Region& r : s.regions) {
    uint64_t base = reinterpret_cast<uint64_t>(r.host);
    if (address >= base && address < base + r.size) return r.first_block + static_cast<int64_t>((address - base) / s.block_size);
  }
  return -1;
}

void Wake(Session& s, uint64_t address) {
  struct uffdio_range range = {address & ~(kPage - 1), kPage};
  ioctl(s.uffd, UFFDIO_WAKE, &range);
}

// Serves every fault queued now; false when none was.
bool ServeFaults(Session& s) {
  struct uffd_msg msgs[16];
  ssize_t got = read(s.uffd, msgs, sizeof msgs);
  if (got < 0) {
    if (errno == EAGAIN || errno == EINTR) return false;
    Fail(s, std::string("lazy restore: reading the userfaultfd failed (") + strerrorname_np(errno) +
                "); the guest cannot go on");
  }
  for (size_t i = 0; i < static_cast<size_t>(got) / sizeof msgs[0]; i++) {
    if (msgs[i].event != UFFD_EVENT_PAGEFAULT) continue;
    uint64_t address = msgs[i].arg.pagefault.address;
    int64_t block = BlockAt(s, address);
    if (block < 0) continue;  // not ours: cannot happen, only guest RAM is registered
    if (s.state[block] == kInstalled) {
      Wake(s, address);  // installed after this fault was queued: the copy woke it already, or this does
      continue;
    }
    Serve(s, static_cast<uint32_t>(block), true);
    s.fault_blocks.fetch_add(1);
  }
  return true;
}

void Unregister(Session& s) {
  for (const Region& r : s.regions) {
    struct uffdio_range range = {reinterpret_cast<uint64_t>(r.host), r.size};
    if (ioctl(s.uffd, UFFDIO_UNREGISTER, &range) < 0)
      Fail(s, std::string("lazy restore: UFFDIO_UNREGISTER failed (") + strerrorname_np(errno) + ")");
  }
  s.registered.store(false);
}

void HandlerLoop(Session* s) {
  uint32_t blocks = static_cast<uint32_t>(s->state.size());
  uint32_t next = 0;  // the background pass's next block
  uint64_t handled = 0;
  struct pollfd fds[2] = {{s->uffd, POLLIN, 0}, {s->stop_fd, POLLIN, 0}};
  struct timespec begun;
  clock_gettime(CLOCK_MONOTONIC, &begun);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t left = s->background_delay_ms - ((now.tv_sec - begun.tv_sec) * 1000 + (now.tv_nsec - begun.tv_nsec) / 1000000);
    if (left <= 0) break;
    fds[0].revents = fds[1].revents = 0;
    if (poll(fds, 2, static_cast<int>(left)) <= 0) continue;
    if (fds[1].revents != 0) return;
    ServeFaults(*s);
  }
  while (!s->stopping.load()) {
    while (next < blocks && s->state[next] != kPending) next++;
    if (next == blocks) break;
    // Faults first: the background pass only runs when none is queued.
    fds[0].revents = fds[1].revents = 0;  // poll leaves them as they were when interrupted
    int ready = poll(fds, 2, 0);
    if (ready < 0 && errno != EINTR)
      Fail(*s, std::string("lazy restore: poll failed (") + strerrorname_np(errno) + "); the guest cannot go on");
    if (fds[1].revents != 0) return;
    if (!(fds[0].revents != 0 && ServeFaults(*s))) {
      Serve(*s, next, s->data[next] != 0);
      s->background_blocks.fetch_add(1);
    }
    if (s->die_after >= 0 && ++handled >= static_cast<uint64_t>(s->die_after)) {
      char what[160];
      snprintf(what, sizeof what,
               "lazy restore: the page-fault handler thread stopped (injected failure) with %u of %u blocks done; "
               "the guest cannot go on",
               s->fault_blocks.load() + s->background_blocks.load(), blocks);
      Fail(*s, what);
    }
  }
  if (s->stopping.load()) return;
  Unregister(*s);
  close(s->uffd);
  s->uffd = -1;
  s->complete.store(true);
}

int Setup(Session* s) {
  int uffd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (uffd < 0) return -errno;
  s->uffd = uffd;
  struct uffdio_api api = {};
  api.api = UFFD_API;
  if (ioctl(uffd, UFFDIO_API, &api) < 0) return -errno;
  for (const Region& r : s->regions) {
    // Nothing written before the restore may stay: every page must be missing so that its first touch comes here.
    if (madvise(r.host, r.size, MADV_DONTNEED) < 0) return -errno;
    struct uffdio_register reg = {};
    reg.range.start = reinterpret_cast<uint64_t>(r.host);
    reg.range.len = r.size;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) return -errno;
    s->registered.store(true);
    uint64_t needed = (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_ZEROPAGE) | (1ULL << _UFFDIO_WAKE);
    if ((reg.ioctls & needed) != needed) return -ENOTSUP;
  }
  s->stop_fd = eventfd(0, EFD_CLOEXEC);
  if (s->stop_fd < 0) return -errno;
  return 0;
}

void Release(Session* s) {
  if (s->uffd >= 0) close(s->uffd);
  if (s->stop_fd >= 0) close(s->stop_fd);
  delete s;
}

}  // namespace

// lazyRestoreStart({ ramFd, regions: [{ bytes: Uint8Array (page aligned), gpa, fileOffset }], blockSize,
//   data: Uint8Array (per block 1 data / 0 zero), digests: Uint8Array (32 per block),
//   verify, failurePrefix, dieAfter, backgroundDelayMs }) -> id or -errno (userfaultfd unavailable,
//   or the range cannot be registered). The RAM file's fd must stay open until stop.
Napi::Value LazyRestoreStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return Napi::Number::New(env, -EINVAL);
  Napi::Object o = info[0].As<Napi::Object>();
  Session* s = new Session;
  s->ram_fd = o.Get("ramFd").As<Napi::Number>().Int32Value();
  s->block_size = static_cast<uint64_t>(o.Get("blockSize").As<Napi::Number>().Int64Value());
  s->verify = o.Get("verify").As<Napi::Boolean>().Value();
  Napi::Value die_after = o.Get("dieAfter"), delay = o.Get("backgroundDelayMs");  // test knobs: absent means off
  s->die_after = die_after.IsNumber() ? die_after.As<Napi::Number>().Int64Value() : -1;
  s->background_delay_ms = delay.IsNumber() ? delay.As<Napi::Number>().Int64Value() : 0;
  s->prefix = o.Get("failurePrefix").As<Napi::String>().Utf8Value();
  Napi::Uint8Array data = o.Get("data").As<Napi::Uint8Array>();
  Napi::Uint8Array digests = o.Get("digests").As<Napi::Uint8Array>();
  s->data.assign(data.Data(), data.Data() + data.ElementLength());
  s->digests.assign(digests.Data(), digests.Data() + digests.ElementLength());
  Napi::Array regions = o.Get("regions").As<Napi::Array>();
  uint32_t first = 0;
  for (uint32_t i = 0; i < regions.Length(); i++) {
    Napi::Object r = regions.Get(i).As<Napi::Object>();
    Napi::Uint8Array bytes = r.Get("bytes").As<Napi::Uint8Array>();
    Region region = {bytes.Data(), bytes.ByteLength(),
                     static_cast<uint64_t>(r.Get("gpa").As<Napi::Number>().Int64Value()),
                     static_cast<uint64_t>(r.Get("fileOffset").As<Napi::Number>().Int64Value()), first};
    s->regions.push_back(region);
    first += static_cast<uint32_t>((region.size + s->block_size - 1) / s->block_size);
  }
  if (s->block_size == 0 || s->block_size % kPage != 0 || first != s->data.size() ||
      s->digests.size() != static_cast<size_t>(first) * 32) {
    Release(s);
    return Napi::Number::New(env, -EINVAL);
  }
  s->state.assign(first, kPending);
  s->buffer.resize(s->block_size);
  int rc = Setup(s);
  if (rc < 0) {
    Release(s);
    return Napi::Number::New(env, rc);
  }
  s->thread = std::thread(HandlerLoop, s);
  return Napi::Number::New(env, sessions.Add(s));
}

// lazyRestoreStats(id) -> { blocks, faultBlocks, backgroundBlocks, bytesRead, registered, complete } or -ESRCH
Napi::Value LazyRestoreStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return sessions.With(info[0].As<Napi::Number>().Int32Value(), [&](Session* s) -> Napi::Value {
    if (s == nullptr) return Napi::Number::New(env, -ESRCH);
    Napi::Object stats = Napi::Object::New(env);
    stats.Set("blocks", Napi::Number::New(env, static_cast<double>(s->state.size())));
    stats.Set("faultBlocks", Napi::Number::New(env, s->fault_blocks.load()));
    stats.Set("backgroundBlocks", Napi::Number::New(env, s->background_blocks.load()));
    stats.Set("bytesRead", Napi::Number::New(env, static_cast<double>(s->bytes_read.load())));
    stats.Set("registered", Napi::Boolean::New(env, s->registered.load()));
    stats.Set("complete", Napi::Boolean::New(env, s->complete.load()));
    return stats;
  });
}

// lazyRestoreStop(id) -> 0 or -ESRCH: stops and joins the thread. Call it
// only once no vCPU can fault any more (the machine has stopped): RAM still
// missing then reads as zeros once the userfaultfd is closed.
Napi::Value LazyRestoreStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Session* s = sessions.Take(info[0].As<Napi::Number>().Int32Value());
  if (s == nullptr) return Napi::Number::New(env, -ESRCH);
  s->stopping.store(true);
  uint64_t one = 1;
  if (write(s->stop_fd, &one, sizeof one) < 0) { /* cannot fail below the counter's limit */ }
  s->thread.join();
  Release(s);
  return Napi::Number::New(env, 0);
}

}  // namespace bhyve
