// Write tracking of guest RAM through userfaultfd's write-protect mode, for a
// checkpoint that writes RAM while the guest runs (copy-before-write, what
// QEMU's background-snapshot does).
//
// Arm (vCPUs paused): one userfaultfd, every RAM region registered MODE_WP
// and write-protected as a whole; with UFFD_FEATURE_WP_UNPOPULATED pages
// never touched are protected too (else a first write would land unseen).
// From then on the first write to any page by anyone (a vCPU in KVM_RUN
// through get_user_pages, the software CPU's host stores, a device's DMA on
// the machine thread, a read(2) into guest RAM) blocks in the kernel and is
// reported here. The handler thread copies the page as it still is into a
// side store (unless its block was already saved) and then lifts the
// protection of that page, which wakes the writer. Never touches JS.
//
// takeBlock hands out a block as of the arm instant: under the block's lock,
// the block as it is in RAM with the side store's pages laid over it; then
// the block is marked saved and its protection lifted, so the guest stops
// faulting there. Reading a protected page does not fault.
//
// The background writer thread takes every block, those the guest started
// writing first (so that each stops faulting at once), leaves all-zero
// blocks as holes (the file was sized before), hashes the others (SHA-256)
// and pwrites them at their place in the RAM file, then fsyncs it (off the
// machine thread, whose fsync then finds nothing to flush); it reports the digests
// through a thread-safe callback. Fault injection for tests (fail the Nth
// write with an errno, sleep before each block, stop the handler or the
// writer thread after N) runs through the same code paths.
//
// A handler thread that stops for any reason but disarm lifts every
// protection on its way out (whoever it left blocked, maybe the machine
// thread, goes on); the writer then fails the save saying why.
//
// Disarm: lifts every protection (waking anyone still blocked), unregisters,
// stops and joins both threads, frees the side store. Whatever went wrong,
// disarm leaves the guest running at full speed with nothing protected.
#include <napi.h>

#include "session_registry.h"

#include <linux/userfaultfd.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

// Kernel 6.4; Debian 12's headers predate it.
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif

namespace bhyve {
namespace {

constexpr uint64_t kPage = 4096;

struct Region {
  uint8_t* host;
  uint64_t size;
  uint32_t first_block;
};

struct Block {
  std::mutex lock;
  bool saved = false;
  std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> pages;  // page offset in the block -> its arm-instant copy
};

struct WriteJob {
  int fd = -1;
  std::vector<uint64_t> file_offsets;  // per region
  int64_t fail_write_at = -1;          // 0-based pwrite index that fails with fail_errno
  int fail_errno = 0;
  uint32_t block_delay_ms = 0;
  int64_t writer_die_at = -1;          // block at which the writer thread stops (injected)
};

struct Session {
  int uffd = -1;
  int stop_fd = -1;
  uint64_t block_size = 0;
  std::vector<Region> regions;
  std::unique_ptr<Block[]> blocks;
  uint32_t block_count = 0;
  std::vector<uint8_t> written;  // one bit per page: written since arming (first-write faults seen)
  std::mutex written_lock;
  int64_t handler_die_after = -1;
  std::thread handler;
  std::thread writer;
  std::atomic<bool> stopping{false};
  std::atomic<bool> cancel{false};
  std::atomic<bool> handler_alive{false};
  std::atomic<bool> writer_running{false};
  std::atomic<bool> armed{false};
  std::atomic<uint64_t> faults{0};
  std::atomic<uint64_t> pages_copied{0};
  std::atomic<uint64_t> side_pages{0};
  std::atomic<uint64_t> side_pages_peak{0};
  std::atomic<uint32_t> blocks_saved{0};
  std::mutex release_lock;
  std::mutex wanted_lock;
  std::deque<uint32_t> wanted;  // blocks the guest started writing: the writer takes these first
  std::string handler_error;  // set once by the handler thread before handler_alive goes false
  Napi::ThreadSafeFunction done;
};

SessionRegistry<Session>& sessions = *new SessionRegistry<Session>;

const Region* RegionOfBlock(const Session& s, uint32_t block) {
  for (size_t i = s.regions.size(); i-- > 0;)
    if (block >= s.regions[i].first_block) return &s.regions[i];
  return nullptr;
}

// Block and page (global page index) of a host address in guest RAM; false if not ours.
bool Locate(const Session& s, uint64_t address, uint32_t* block, uint64_t* page) {
  uint64_t pages_before = 0;
  for (const Region& r : s.regions) {
    uint64_t base = reinterpret_cast<uint64_t>(r.host);
    if (address >= base && address < base + r.size) {
      *block = r.first_block + static_cast<uint32_t>((address - base) / s.block_size);
      *page = pages_before + (address - base) / kPage;
      return true;
    }
    pages_before += r.size / kPage;
  }
  return false;
}

int Protect(const Session& s, uint8_t* start, uint64_t length, bool on) {
  struct uffdio_writeprotect wp = {};
  wp.range.start = reinterpret_cast<uint64_t>(start);
  wp.range.len = length;
  wp.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0;  // lifting also wakes whoever waits on the range
  while (ioctl(s.uffd, UFFDIO_WRITEPROTECT, &wp) < 0) {
    if (errno != EAGAIN && errno != EINTR) return -errno;
  }
  return 0;
}

// A write fault: save the page as it still is (if its block is not saved yet), then let the write land.
int OnWriteFault(Session& s, uint64_t address) {
  uint32_t block;
  uint64_t page;
  if (!Locate(s, address, &block, &page)) return 0;  // only guest RAM is registered
  uint8_t* page_start = reinterpret_cast<uint8_t*>(address & ~(kPage - 1));
  {
    std::lock_guard<std::mutex> written(s.written_lock);
    s.written[page / 8] |= static_cast<uint8_t>(1u << (page % 8));
  }
  Block& b = s.blocks[block];
  std::lock_guard<std::mutex> lock(b.lock);
  if (!b.saved) {
    const Region* r = RegionOfBlock(s, block);
    uint64_t in_block = (reinterpret_cast<uint64_t>(page_start) - reinterpret_cast<uint64_t>(r->host)) % s.block_size;
    if (b.pages.empty()) {
      // The guest is writing here: saved next, the block stops faulting at once rather than page by page.
      std::lock_guard<std::mutex> wanted(s.wanted_lock);
      s.wanted.push_back(block);
    }
    if (b.pages.find(in_block) == b.pages.end()) {
      std::unique_ptr<uint8_t[]> copy(new uint8_t[kPage]);
      memcpy(copy.get(), page_start, kPage);
      b.pages.emplace(in_block, std::move(copy));
      s.pages_copied.fetch_add(1);
      uint64_t now = s.side_pages.fetch_add(1) + 1;
      uint64_t peak = s.side_pages_peak.load();
      while (now > peak && !s.side_pages_peak.compare_exchange_weak(peak, now)) {
      }
    }
  }
  return Protect(s, page_start, kPage, false);
}

void ReleaseAll(Session* s);

void HandlerLoop(Session* s) {
  struct pollfd fds[2] = {{s->uffd, POLLIN, 0}, {s->stop_fd, POLLIN, 0}};
  uint64_t handled = 0;
  std::string error;
  while (!s->stopping.load()) {
    int ready = poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      error = std::string("poll failed (") + strerrorname_np(errno) + ")";
      break;
    }
    if (fds[1].revents != 0) break;
    if (fds[0].revents == 0) continue;
    struct uffd_msg msgs[16];
    ssize_t got = read(s->uffd, msgs, sizeof msgs);
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      error = std::string("reading the userfaultfd failed (") + strerrorname_np(errno) + ")";
      break;
    }
    for (size_t i = 0; i < static_cast<size_t>(got) / sizeof msgs[0] && error.empty(); i++) {
      if (msgs[i].event != UFFD_EVENT_PAGEFAULT) continue;
      if (s->handler_die_after >= 0 && handled >= static_cast<uint64_t>(s->handler_die_after)) {
        error = "the write-protect handler thread stopped (injected failure) after " + std::to_string(handled) + " faults";
        break;
      }
      int rc = OnWriteFault(*s, msgs[i].arg.pagefault.address);
      if (rc < 0) error = std::string("UFFDIO_WRITEPROTECT failed (") + strerrorname_np(-rc) + ")";
      handled++;
      s->faults.fetch_add(1);
    }
    if (!error.empty()) break;
  }
  s->handler_error = error;
  s->handler_alive.store(false);
  // Nobody serves faults any more: whoever blocks in one (maybe the machine thread, the only one that could
  // disarm) must be let go now. The writer, if running, sees the handler gone and fails the save.
  if (!error.empty()) {
    fprintf(stderr, "bhyve-ts write tracking: %s\n", error.c_str());
    ReleaseAll(s);
  }
}

bool AllZero(const uint8_t* p, uint64_t n) {
  const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
  for (uint64_t i = 0; i < n / 8; i++)
    if (w[i] != 0) return false;
  for (uint64_t i = n & ~7ULL; i < n; i++)
    if (p[i] != 0) return false;
  return true;
}

// The block's content as of the arm instant into dest; then the block is saved and writable.
int64_t TakeBlock(Session& s, uint32_t block, uint8_t* dest) {
  const Region* r = RegionOfBlock(s, block);
  if (r == nullptr || block >= s.block_count) return -EINVAL;
  uint64_t start = static_cast<uint64_t>(block - r->first_block) * s.block_size;
  uint64_t length = std::min(s.block_size, r->size - start);
  Block& b = s.blocks[block];
  std::lock_guard<std::mutex> lock(b.lock);
  memcpy(dest, r->host + start, length);
  if (b.saved) return static_cast<int64_t>(length);  // taken before: RAM has moved on, the caller gets today's bytes
  for (auto& [offset, copy] : b.pages) memcpy(dest + offset, copy.get(), kPage);
  s.side_pages.fetch_sub(b.pages.size());
  b.pages.clear();
  b.saved = true;
  s.blocks_saved.fetch_add(1);
  int rc = Protect(s, r->host + start, length, false);
  return rc < 0 ? rc : static_cast<int64_t>(length);
}

struct WriteResult {
  std::string op;  // empty: success
  int err = 0;
  int64_t block = -1;
  std::string detail;
  std::vector<uint8_t> data;     // per block: 1 data, 0 zero
  std::vector<uint8_t> digests;  // 32 per block
  uint64_t bytes_written = 0;
};

// pwrite all of it, or the errno (injected at the job's fail_write_at-th call).
int WriteAll(const WriteJob& job, int64_t* writes, const uint8_t* p, uint64_t n, uint64_t at) {
  uint64_t done = 0;
  while (done < n) {
    if (job.fail_write_at >= 0 && *writes == job.fail_write_at) {
      (*writes)++;
      return job.fail_errno;
    }
    (*writes)++;
    ssize_t put = pwrite(job.fd, p + done, n - done, static_cast<off_t>(at + done));
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return errno;
    if (put == 0) return EIO;
    done += static_cast<uint64_t>(put);
  }
  return 0;
}

void WriteLoop(Session* s, WriteJob job, WriteResult* out) {
  std::vector<uint8_t> buffer(s->block_size);
  out->data.assign(s->block_count, 0);
  out->digests.assign(static_cast<size_t>(s->block_count) * 32, 0);
  int64_t writes = 0;
  std::vector<uint8_t> taken(s->block_count, 0);
  uint32_t cursor = 0;
  // Blocks the guest is writing first (each one it writes faults until taken), then the rest in order.
  auto next_block = [&]() -> int64_t {
    {
      std::lock_guard<std::mutex> lock(s->wanted_lock);
      while (!s->wanted.empty()) {
        uint32_t b = s->wanted.front();
        s->wanted.pop_front();
        if (!taken[b]) return b;
      }
    }
    while (cursor < s->block_count && taken[cursor]) cursor++;
    return cursor < s->block_count ? static_cast<int64_t>(cursor) : -1;
  };
  for (int64_t next; (next = next_block()) >= 0;) {
    uint32_t block = static_cast<uint32_t>(next);
    taken[block] = 1;
    if (job.block_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(job.block_delay_ms));
    if (s->cancel.load()) {
      out->op = "cancel";
      out->err = ECANCELED;
      out->block = block;
      out->detail = "cancelled";
      return;
    }
    if (!s->handler_alive.load()) {
      out->op = "track";
      out->err = EIO;
      out->block = block;
      out->detail = s->handler_error.empty() ? "the write-protect handler thread stopped" : s->handler_error;
      return;
    }
    if (job.writer_die_at >= 0 && block == static_cast<uint64_t>(job.writer_die_at)) {
      out->op = "writer";
      out->err = EIO;
      out->block = block;
      out->detail = "the RAM writer thread stopped (injected failure) at block " + std::to_string(block);
      return;
    }
    int64_t length = TakeBlock(*s, block, buffer.data());
    if (length < 0) {
      out->op = "track";
      out->err = static_cast<int>(-length);
      out->block = block;
      out->detail = std::string("UFFDIO_WRITEPROTECT failed (") + strerrorname_np(static_cast<int>(-length)) + ")";
      return;
    }
    uint64_t n = static_cast<uint64_t>(length);
    if (AllZero(buffer.data(), n)) continue;
    unsigned int digest_length = 0;
    if (EVP_Digest(buffer.data(), n, out->digests.data() + static_cast<size_t>(block) * 32, &digest_length, EVP_sha256(),
                   nullptr) != 1 ||
        digest_length != 32) {
      out->op = "hash";
      out->err = EIO;
      out->block = block;
      out->detail = "SHA-256 failed";
      return;
    }
    out->data[block] = 1;
    const Region* r = RegionOfBlock(*s, block);
    size_t region_index = static_cast<size_t>(r - s->regions.data());
    uint64_t at = job.file_offsets[region_index] + static_cast<uint64_t>(block - r->first_block) * s->block_size;
    int err = WriteAll(job, &writes, buffer.data(), n, at);
    if (err != 0) {
      out->op = "write";
      out->err = err;
      out->block = block;
      out->detail = "";
      return;
    }
    out->bytes_written += n;
  }
  // Made durable here, not by the caller's fsync on the machine thread: flushing hundreds of MiB there
  // would stall the guest (the machine thread runs the software CPU, and KVM's first vCPU).
  while (fsync(job.fd) < 0) {
    if (errno == EINTR) continue;
    out->op = "fsync";
    out->err = errno;
    out->detail = "";
    return;
  }
}

// Lifts every protection (anyone blocked in a write fault wakes and goes on) and unregisters: after this
// nothing the guest does faults. Called by disarm, and by the writer itself on any failure, because the
// thread that would disarm (the machine's JS thread) may be the very one blocked in a fault.
void ReleaseAll(Session* s) {
  std::lock_guard<std::mutex> lock(s->release_lock);
  if (!s->armed.load()) return;
  for (const Region& r : s->regions) Protect(*s, r.host, r.size, false);
  for (const Region& r : s->regions) {
    struct uffdio_range range = {reinterpret_cast<uint64_t>(r.host), r.size};
    ioctl(s->uffd, UFFDIO_UNREGISTER, &range);
  }
  s->armed.store(false);
}

void Disarm(Session* s) {
  s->cancel.store(true);
  if (s->writer.joinable()) s->writer.join();
  ReleaseAll(s);
  s->stopping.store(true);
  if (s->stop_fd >= 0) {
    uint64_t one = 1;
    if (write(s->stop_fd, &one, sizeof one) < 0) { /* cannot fail below the counter's limit */ }
  }
  if (s->handler.joinable()) s->handler.join();
  if (s->uffd >= 0) close(s->uffd);
  if (s->stop_fd >= 0) close(s->stop_fd);
  s->uffd = s->stop_fd = -1;
}

Napi::Object Failure(Napi::Env env, const char* step, int err) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("step", Napi::String::New(env, step));
  o.Set("errno", Napi::Number::New(env, err));
  o.Set("code", Napi::String::New(env, strerrorname_np(err) != nullptr ? strerrorname_np(err) : "E?"));
  return o;
}

// -> 0, or fills step/err.
int Arm(Session* s, const char** step) {
  *step = "userfaultfd";
  int uffd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (uffd < 0) return errno;
  s->uffd = uffd;
  *step = "UFFDIO_API";
  struct uffdio_api api = {};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_UNPOPULATED;
  if (ioctl(uffd, UFFDIO_API, &api) < 0) return errno;
  *step = "UFFDIO_REGISTER";
  for (const Region& r : s->regions) {
    struct uffdio_register reg = {};
    reg.range.start = reinterpret_cast<uint64_t>(r.host);
    reg.range.len = r.size;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
      int err = errno;
      for (const Region& q : s->regions) {
        if (&q == &r) break;
        struct uffdio_range range = {reinterpret_cast<uint64_t>(q.host), q.size};
        ioctl(uffd, UFFDIO_UNREGISTER, &range);
      }
      return err;
    }
    if ((reg.ioctls & (1ULL << _UFFDIO_WRITEPROTECT)) == 0) return ENOTSUP;
  }
  s->armed.store(true);
  *step = "eventfd";
  s->stop_fd = eventfd(0, EFD_CLOEXEC);
  if (s->stop_fd < 0) return errno;
  *step = "UFFDIO_WRITEPROTECT";
  for (const Region& r : s->regions) {
    int rc = Protect(*s, r.host, r.size, true);
    if (rc < 0) return -rc;
  }
  return 0;
}

// writeTrackArm({ regions: [Uint8Array (page aligned)], blockSize, handlerDieAfter }) -> { id } or
// { step, errno, code } when write tracking cannot be had. Call it with every vCPU paused.
Napi::Value WriteTrackArm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return Failure(env, "arguments", EINVAL);
  Napi::Object o = info[0].As<Napi::Object>();
  Session* s = new Session;
  s->block_size = static_cast<uint64_t>(o.Get("blockSize").As<Napi::Number>().Int64Value());
  s->handler_die_after = o.Get("handlerDieAfter").As<Napi::Number>().Int64Value();
  Napi::Array regions = o.Get("regions").As<Napi::Array>();
  uint32_t first = 0;
  uint64_t pages = 0;
  bool aligned = s->block_size != 0 && s->block_size % kPage == 0;
  for (uint32_t i = 0; i < regions.Length(); i++) {
    Napi::Uint8Array bytes = regions.Get(i).As<Napi::Uint8Array>();
    Region r = {bytes.Data(), bytes.ByteLength(), first};
    aligned = aligned && reinterpret_cast<uint64_t>(r.host) % kPage == 0 && r.size % kPage == 0 && r.size > 0;
    s->regions.push_back(r);
    if (s->block_size != 0) first += static_cast<uint32_t>((r.size + s->block_size - 1) / s->block_size);
    pages += r.size / kPage;
  }
  if (!aligned || s->regions.empty()) {
    delete s;
    return Failure(env, "arguments", EINVAL);
  }
  s->block_count = first;
  s->blocks.reset(new Block[first]);
  s->written.assign((pages + 7) / 8, 0);
  const char* step = "";
  int err = Arm(s, &step);
  if (err != 0) {
    Disarm(s);
    delete s;
    return Failure(env, step, err);
  }
  s->handler_alive.store(true);
  s->handler = std::thread(HandlerLoop, s);
  Napi::Object result = Napi::Object::New(env);
  result.Set("id", Napi::Number::New(env, sessions.Add(s)));
  return result;
}

// writeTrackTake(id, block, dest: Uint8Array of blockSize) -> bytes (the block's length) or -errno.
Napi::Value WriteTrackTake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Session* s = sessions.Find(info[0].As<Napi::Number>().Int32Value());
  if (s == nullptr) return Napi::Number::New(env, -ESRCH);
  uint32_t block = info[1].As<Napi::Number>().Uint32Value();
  Napi::Uint8Array dest = info[2].As<Napi::Uint8Array>();
  if (s->writer_running.load()) return Napi::Number::New(env, -EBUSY);
  if (block >= s->block_count || dest.ByteLength() < s->block_size) return Napi::Number::New(env, -EINVAL);
  return Napi::Number::New(env, static_cast<double>(TakeBlock(*s, block, dest.Data())));
}

// writeTrackStats(id) -> { blocks, blocksSaved, faults, pagesCopied, sidePages, sidePagesPeak, handlerAlive,
// handlerError, armed } or -ESRCH
Napi::Value WriteTrackStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Session* s = sessions.Find(info[0].As<Napi::Number>().Int32Value());
  if (s == nullptr) return Napi::Number::New(env, -ESRCH);
  Napi::Object o = Napi::Object::New(env);
  o.Set("blocks", Napi::Number::New(env, s->block_count));
  o.Set("blocksSaved", Napi::Number::New(env, s->blocks_saved.load()));
  o.Set("faults", Napi::Number::New(env, static_cast<double>(s->faults.load())));
  o.Set("pagesCopied", Napi::Number::New(env, static_cast<double>(s->pages_copied.load())));
  o.Set("sidePages", Napi::Number::New(env, static_cast<double>(s->side_pages.load())));
  o.Set("sidePagesPeak", Napi::Number::New(env, static_cast<double>(s->side_pages_peak.load())));
  bool alive = s->handler_alive.load();
  o.Set("handlerAlive", Napi::Boolean::New(env, alive));
  o.Set("handlerError", alive ? env.Null() : Napi::String::New(env, s->handler_error));
  o.Set("armed", Napi::Boolean::New(env, s->armed.load()));
  return o;
}

// writeTrackWritten(id) -> Uint8Array, one bit per page (region order): written since arming. Or -ESRCH.
Napi::Value WriteTrackWritten(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Session* s = sessions.Find(info[0].As<Napi::Number>().Int32Value());
  if (s == nullptr) return Napi::Number::New(env, -ESRCH);
  std::lock_guard<std::mutex> lock(s->written_lock);
  Napi::Uint8Array out = Napi::Uint8Array::New(env, s->written.size());
  memcpy(out.Data(), s->written.data(), s->written.size());
  return out;
}

// writeTrackWrite(id, { fd, fileOffsets: number[] per region, failWriteAt, failErrno, blockDelayMs, writerDieAt },
// onDone(result)) -> 0 or -errno. onDone gets { op, errno, code, block, detail } on failure (op "" on success),
// plus data (Uint8Array, per block 1/0), digests (Uint8Array, 32 per block), bytesWritten.
Napi::Value WriteTrackWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Session* s = sessions.Find(info[0].As<Napi::Number>().Int32Value());
  if (s == nullptr) return Napi::Number::New(env, -ESRCH);
  if (s->writer_running.load() || s->writer.joinable()) return Napi::Number::New(env, -EBUSY);
  Napi::Object o = info[1].As<Napi::Object>();
  WriteJob job;
  job.fd = o.Get("fd").As<Napi::Number>().Int32Value();
  Napi::Array offsets = o.Get("fileOffsets").As<Napi::Array>();
  if (offsets.Length() != s->regions.size()) return Napi::Number::New(env, -EINVAL);
  for (uint32_t i = 0; i < offsets.Length(); i++)
    job.file_offsets.push_back(static_cast<uint64_t>(offsets.Get(i).As<Napi::Number>().Int64Value()));
  job.fail_write_at = o.Get("failWriteAt").As<Napi::Number>().Int64Value();
  job.fail_errno = o.Get("failErrno").As<Napi::Number>().Int32Value();
  job.block_delay_ms = o.Get("blockDelayMs").As<Napi::Number>().Uint32Value();
  job.writer_die_at = o.Get("writerDieAt").As<Napi::Number>().Int64Value();
  s->done = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "bhyve-ts ram writer", 0, 1);
  s->writer_running.store(true);
  s->writer = std::thread([s, job]() {
    WriteResult* out = new WriteResult;
    WriteLoop(s, job, out);
    if (!out->op.empty()) ReleaseAll(s);
    s->writer_running.store(false);
    s->done.NonBlockingCall(out, [](Napi::Env env, Napi::Function callback, WriteResult* r) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("op", Napi::String::New(env, r->op));
      o.Set("errno", Napi::Number::New(env, r->err));
      const char* code = r->err != 0 ? strerrorname_np(r->err) : "";
      o.Set("code", Napi::String::New(env, code != nullptr ? code : "E?"));
      o.Set("block", Napi::Number::New(env, static_cast<double>(r->block)));
      o.Set("detail", Napi::String::New(env, r->detail));
      Napi::Uint8Array data = Napi::Uint8Array::New(env, r->data.size());
      memcpy(data.Data(), r->data.data(), r->data.size());
      Napi::Uint8Array digests = Napi::Uint8Array::New(env, r->digests.size());
      memcpy(digests.Data(), r->digests.data(), r->digests.size());
      o.Set("data", data);
      o.Set("digests", digests);
      o.Set("bytesWritten", Napi::Number::New(env, static_cast<double>(r->bytes_written)));
      delete r;
      callback.Call({o});
    });
    s->done.Release();
  });
  return Napi::Number::New(env, 0);
}

// writeTrackDisarm(id) -> 0 or -ESRCH: stops the writer (if running: it ends at its next block), lifts every
// protection, unregisters, joins the handler thread and frees everything.
Napi::Value WriteTrackDisarm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Session* s = sessions.Take(info[0].As<Napi::Number>().Int32Value());
  if (s == nullptr) return Napi::Number::New(env, -ESRCH);
  Disarm(s);
  delete s;
  return Napi::Number::New(env, 0);
}

}  // namespace

void RegisterWriteTracker(Napi::Env env, Napi::Object exports) {
  exports.Set("writeTrackArm", Napi::Function::New(env, WriteTrackArm));
  exports.Set("writeTrackTake", Napi::Function::New(env, WriteTrackTake));
  exports.Set("writeTrackStats", Napi::Function::New(env, WriteTrackStats));
  exports.Set("writeTrackWritten", Napi::Function::New(env, WriteTrackWritten));
  exports.Set("writeTrackWrite", Napi::Function::New(env, WriteTrackWrite));
  exports.Set("writeTrackDisarm", Napi::Function::New(env, WriteTrackDisarm));
}

}  // namespace bhyve
