// AccessLog: one line per completed request of an http listener (`access_log:` in its config),
// in the combined (Apache/nginx) or the json format. One AccessLog per listener and worker,
// each with its own O_APPEND descriptor of the same file.
//
// Not blocking the worker: a line is formatted into the worker's own buffer (pooled, 64 KiB,
// no allocation per request after warm-up); a full buffer, and whatever is buffered at each
// 100 ms tick, is written by Loop::writeFile (io_uring: IORING_OP_WRITEV, which the kernel runs
// in io-wq for a regular file; epoll: the loop's writer thread). One write in flight per log,
// taking every buffer sealed so far (it carries more when writes fall behind); at most
// MaxBuffers buffers per log (1 MiB, allocated as needed): when the disk does not keep
// up, or writes fail, lines are dropped and counted (ringway_access_log_dropped_lines_total)
// with one warning per burst. Every write(2) carries whole lines only: O_APPEND writes from
// single write() calls do not interleave on local file systems (Linux holds the inode lock for
// the whole write), so the workers' lines stay whole in the shared file; they are not in time
// order across workers.
//
// reopen() (SIGUSR1, for logrotate): the worker opens the path again on its own thread (a
// blocking open, but a rare one the operator asks for) and closes the old descriptor once the
// buffers sealed for it are written: lines completed before the signal go to the old file.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "io/loop.h"

namespace ringway::net {

class AccessLog;

// What a line needs from one exchange, copied while the request head is in hand (its bytes go
// back to the ring before the response ends). Pooled per AccessLog; fields are cut at fixed
// lengths, so a line has a bounded size.
struct AccessEntry {
  static constexpr std::size_t MaxMethod = 16;
  static constexpr std::size_t MaxTarget = 1024;
  static constexpr std::size_t MaxAgent = 256;
  static constexpr std::size_t MaxReferer = 512;
  static constexpr std::size_t MaxRequestId = 64;

  AccessLog* log = nullptr;              // the owner (the session may outlive the worker's thread)
  uint64_t startNs = 0;                  // CLOCK_MONOTONIC: the request head was complete
  uint64_t upHeadNs = 0;                 // the upstream's response head arrived; 0: not proxied
  uint64_t sent = 0;                     // response body bytes written to the client
  const std::string* upstream = nullptr; // endpoint address (config text)
  uint16_t status = 0;                   // 0: no response head went out
  bool hasRequest = false; // a request line was read (not for a 408 on a dribbled head)
  bool http10 = false;
  uint8_t methodLen = 0;
  uint8_t requestIdLen = 0;
  uint16_t targetLen = 0;
  uint16_t agentLen = 0;
  uint16_t refererLen = 0;
  char method[MaxMethod];
  char target[MaxTarget];
  char agent[MaxAgent];
  char referer[MaxReferer];
  char requestId[MaxRequestId];
  AccessEntry* next = nullptr; // free list

  void setMethod(std::string_view v);
  void setTarget(std::string_view v);
  void setAgent(std::string_view v);
  void setReferer(std::string_view v);
  void setRequestId(std::string_view v);
};

// What the session knows at the end that the entry does not hold.
struct AccessContext {
  std::string_view client;  // address
  std::string_view route;   // "-" when none
  std::string_view cluster; // "-" when none
};

class AccessLog final : private io::FileWriteHandler {
public:
  static constexpr std::size_t BufferSize = 64 * 1024;
  // 64 x 64 KiB (4 MiB, allocated as needed). With 4 (256 KiB) a 90k lines/s wrk run on this
  // VM's disk dropped lines (a write's latency passing 2 ms, one write in flight); with 16
  // (1 MiB, ~30 ms of lines at 93k lines/s) a 2 s run still dropped 0.6%; 4 MiB rides out
  // ~120 ms of write latency at that rate.
  static constexpr std::size_t MaxBuffers = 64;
  // Fields are cut (AccessEntry), then escaped (at most 6 bytes per byte in json): no line is
  // longer than this.
  static constexpr std::size_t MaxLine = 16 * 1024;

  AccessLog(io::Loop& loop, const config::Listener& listener, int worker);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Opens the file (on the worker thread, at start); false with `why` filled.
  bool open(std::string* why);
  AccessEntry* take(); // a cleared entry, owned by the caller until finish()
  // Formats the line (or drops it, counted) and takes the entry back.
  void finish(AccessEntry* e, const AccessContext& c);
  // The worker's tick: hand what is buffered to the writer.
  void flush();
  // SIGUSR1: open the path again; what is buffered now still goes to the old file.
  void reopen();
  // Nothing buffered and no write in flight.
  bool idle() const;
  // CLOCK_MONOTONIC in nanoseconds (vDSO, no syscall): AccessEntry's times.
  static uint64_t nowNs();

  const config::Listener& listener() const { return listener_; }
  // Read at scrape time by any thread.
  uint64_t lines() const { return lines_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t reopens() const { return reopens_.load(std::memory_order_relaxed); }

  // Formatting, exposed for tests: appends one line (with '\n') at `out`, returns its length
  // (<= MaxLine). `wallNs`: CLOCK_REALTIME, `nowNs`: CLOCK_MONOTONIC at the end.
  static std::size_t format(config::AccessLogFormat f, char* out, const AccessEntry& e,
                            const AccessContext& c, std::string_view listener, uint64_t wallNs,
                            uint64_t nowNs);

private:
  struct Buffer {
    std::unique_ptr<char[]> data; // allocated on first use, kept
    uint32_t len = 0;
    uint32_t lines = 0;
    int fd = -1; // the descriptor it was sealed for
  };
  void onFileWritten(int res) override;
  Buffer& filling() { return bufs_[(head_ + queued_) % MaxBuffers]; }
  bool seal();    // the filling buffer joins the write queue; false if the queue is full
  void kick();    // start the next write if none is in flight
  void release(); // the head buffer is done
  void drop(uint64_t n, const char* why);
  void closeUnused(int fd);

  io::Loop& loop_;
  const config::Listener& listener_;
  const int worker_;
  int fd_ = -1;
  Buffer bufs_[MaxBuffers];
  std::size_t head_ = 0;   // oldest queued buffer (the one being written)
  std::size_t queued_ = 0; // buffers sealed and waiting (or being written)
  uint32_t writeOff_ = 0;  // bytes of the head buffer already written
  bool inflight_ = false;
  std::size_t writing_ = 0; // buffers in the write in flight (from head_)
  iovec iov_[MaxBuffers];   // the write in flight
  bool dropping_ = false;   // in a burst of drops: warned once
  uint64_t burstDropped_ = 0;
  AccessEntry* free_ = nullptr;
  std::size_t entries_ = 0; // made, for the destructor
  std::vector<std::unique_ptr<AccessEntry>> owned_;
  std::atomic<uint64_t> lines_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> reopens_{0};
};

// The access logs of the calling worker thread (set by the Worker while it runs), so a
// session finds its listener's log without a field in every listener or connection.
void setThreadAccessLogs(const std::vector<std::unique_ptr<AccessLog>>* logs);
AccessLog* threadAccessLog(const config::Listener& l);

} // namespace ringway::net
