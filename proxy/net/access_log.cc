#include "net/access_log.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "io/log.h"

namespace ringway::net {

namespace {

thread_local const std::vector<std::unique_ptr<AccessLog>>* tLogs = nullptr;

uint64_t clockNs(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

int openLog(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Appends to a buffer the caller made big enough (MaxLine); every put is bounded by the field
// limits of AccessEntry.
struct Out {
  char* p;
  void put(std::string_view s) {
    if (s.empty())
      return; // an empty view may have a null data()
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
  void put(char c) { *p++ = c; }
  void num(uint64_t v) { p = std::to_chars(p, p + 20, v).ptr; }
  void two(unsigned v) {
    *p++ = static_cast<char>('0' + v / 10 % 10);
    *p++ = static_cast<char>('0' + v % 10);
  }
  void hex(unsigned char c) {
    static constexpr char digits[] = "0123456789abcdef";
    *p++ = digits[c >> 4];
    *p++ = digits[c & 15];
  }
  // Seconds with millisecond resolution: "0.003".
  void seconds(uint64_t ns) {
    const uint64_t ms = ns / 1000000;
    num(ms / 1000);
    put('.');
    const unsigned frac = static_cast<unsigned>(ms % 1000);
    *p++ = static_cast<char>('0' + frac / 100);
    two(frac % 100);
  }
  // nginx's escaping for the combined format: '"', '\' and bytes outside 0x20..0x7e as \xHH.
  void combined(std::string_view s) {
    if (s.empty()) {
      put('-');
      return;
    }
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
        put("\\x");
        hex(c);
      } else {
        *p++ = ch;
      }
    }
  }
  // A JSON string: '"', '\' and control characters escaped; valid UTF-8 kept as it is; a byte
  // that is not part of valid UTF-8 becomes \u00XX (read as Latin-1), so the line always parses.
  void json(std::string_view s) {
    put('"');
    const auto* u = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    for (std::size_t i = 0; i < n;) {
      const unsigned char c = u[i];
      if (c == '"' || c == '\\') {
        put('\\');
        *p++ = static_cast<char>(c);
        ++i;
      } else if (c < 0x20 || c == 0x7f) {
        put("\\u00");
        hex(c);
        ++i;
      } else if (c < 0x80) {
        *p++ = static_cast<char>(c);
        ++i;
      } else if (const std::size_t len = utf8Length(u + i, n - i); len > 0) {
        std::memcpy(p, u + i, len); // NOLINT: len <= n - i
        p += len;
        i += len;
      } else {
        put("\\u00");
        hex(c);
        ++i;
      }
    }
    put('"');
  }
  void jsonOrNull(std::string_view s) {
    if (s.empty() || s == "-")
      put("null");
    else
      json(s);
  }
  // The length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates), or 0.
  static std::size_t utf8Length(const unsigned char* s, std::size_t n) {
    const unsigned char c = s[0];
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0)
        lo = 0xa0;
      if (c == 0xed)
        hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0)
        lo = 0x90;
      if (c == 0xf4)
        hi = 0x8f;
    } else {
      return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
      return 0;
    for (std::size_t k = 2; k < len; ++k)
      if (s[k] < 0x80 || s[k] > 0xbf)
        return 0;
    return len;
  }
};

constexpr const char* Months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string_view cut(std::string_view v, std::size_t max) {
  return v.substr(0, std::min(v.size(), max));
}

} // namespace

void AccessEntry::setMethod(std::string_view v) {
  v = cut(v, MaxMethod);
  std::memcpy(method, v.data(), v.size());
  methodLen = static_cast<uint8_t>(v.size());
}
void AccessEntry::setTarget(std::string_view v) {
  v = cut(v, MaxTarget);
  std::memcpy(target, v.data(), v.size());
  targetLen = static_cast<uint16_t>(v.size());
}
void AccessEntry::setAgent(std::string_view v) {
  v = cut(v, MaxAgent);
  std::memcpy(agent, v.data(), v.size());
  agentLen = static_cast<uint16_t>(v.size());
}
void AccessEntry::setReferer(std::string_view v) {
  v = cut(v, MaxReferer);
  std::memcpy(referer, v.data(), v.size());
  refererLen = static_cast<uint16_t>(v.size());
}
void AccessEntry::setRequestId(std::string_view v) {
  v = cut(v, MaxRequestId);
  std::memcpy(requestId, v.data(), v.size());
  requestIdLen = static_cast<uint8_t>(v.size());
}

uint64_t AccessLog::nowNs() { return clockNs(CLOCK_MONOTONIC); }

void setThreadAccessLogs(const std::vector<std::unique_ptr<AccessLog>>* logs) { tLogs = logs; }

AccessLog* threadAccessLog(const config::Listener& l) {
  if (tLogs == nullptr)
    return nullptr;
  for (const auto& a : *tLogs)
    if (&a->listener() == &l)
      return a.get();
  return nullptr;
}

AccessLog::AccessLog(io::Loop& loop, const config::Listener& listener, int worker)
    : loop_(loop), listener_(listener), worker_(worker) {}

AccessLog::~AccessLog() {
  // The loop is gone by now (Worker: sessions, then the loop, then the logs). A write still in
  // flight (the worker gave up waiting for it at stop) may still be read by the kernel: leave
  // its buffer alone (released, never freed). The rest is written here, blocking: shutdown.
  std::size_t first = 0;
  if (inflight_) {
    for (std::size_t i = 0; i < writing_; ++i)
      (void)bufs_[(head_ + i) % MaxBuffers].data.release();
    first = writing_;
  } else if (queued_ > 0 && writeOff_ > 0) {
    Buffer& b = bufs_[head_];
    std::memmove(b.data.get(), b.data.get() + writeOff_, b.len - writeOff_);
    b.len -= writeOff_;
  }
  if (filling().len > 0 && queued_ < MaxBuffers) {
    filling().fd = fd_;
    ++queued_;
  }
  for (std::size_t i = first; i < queued_; ++i) {
    Buffer& b = bufs_[(head_ + i) % MaxBuffers];
    if (b.fd < 0 || !b.data)
      continue;
    std::size_t off = 0;
    while (off < b.len) {
      const ssize_t w = ::write(b.fd, b.data.get() + off, b.len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        break;
      off += static_cast<std::size_t>(w);
    }
  }
  std::vector<int> fds{fd_};
  for (const Buffer& b : bufs_)
    if (b.fd >= 0 && std::find(fds.begin(), fds.end(), b.fd) == fds.end())
      fds.push_back(b.fd);
  for (int fd : fds)
    if (fd >= 0)
      ::close(fd);
}

bool AccessLog::open(std::string* why) {
  fd_ = openLog(listener_.access_log->path);
  loop_.countSyscall();
  if (fd_ < 0) {
    if (why != nullptr)
      *why = "cannot open access log '" + listener_.access_log->path + "': " + std::strerror(errno);
    return false;
  }
  return true;
}

AccessEntry* AccessLog::take() {
  AccessEntry* e = free_;
  if (e != nullptr) {
    free_ = e->next;
  } else {
    owned_.push_back(std::make_unique<AccessEntry>());
    e = owned_.back().get();
  }
  e->log = this;
  e->startNs = e->upHeadNs = e->sent = 0;
  e->upstream = nullptr;
  e->status = 0;
  e->hasRequest = e->http10 = false;
  e->methodLen = e->requestIdLen = 0;
  e->targetLen = e->agentLen = e->refererLen = 0;
  e->next = nullptr;
  return e;
}

std::size_t AccessLog::format(config::AccessLogFormat f, char* out, const AccessEntry& e,
                              const AccessContext& c, std::string_view listener, uint64_t wallNs,
                              uint64_t nowNs) {
  const time_t sec = static_cast<time_t>(wallNs / 1000000000ULL);
  tm t{};
  gmtime_r(&sec, &t);
  const unsigned ms = static_cast<unsigned>(wallNs / 1000000ULL % 1000);
  const std::string_view method(e.method, e.methodLen), target(e.target, e.targetLen);
  const std::string_view agent(e.agent, e.agentLen), referer(e.referer, e.refererLen);
  const std::string_view proto = e.http10 ? "HTTP/1.0" : "HTTP/1.1";
  const uint64_t durNs = e.startNs != 0 && nowNs > e.startNs ? nowNs - e.startNs : 0;
  Out o{out};
  if (f == config::AccessLogFormat::Combined) {
    // $remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer"
    // "$http_user_agent", with the time in UTC.
    o.put(c.client.empty() ? std::string_view("-") : cut(c.client, 64));
    o.put(" - - [");
    o.two(static_cast<unsigned>(t.tm_mday));
    o.put('/');
    o.put(Months[t.tm_mon % 12]);
    o.put('/');
    o.num(static_cast<uint64_t>(t.tm_year + 1900));
    o.put(':');
    o.two(static_cast<unsigned>(t.tm_hour));
    o.put(':');
    o.two(static_cast<unsigned>(t.tm_min));
    o.put(':');
    o.two(static_cast<unsigned>(t.tm_sec));
    o.put(" +0000] \"");
    if (e.hasRequest) {
      o.combined(method);
      o.put(' ');
      o.combined(target);
      o.put(' ');
      o.put(proto);
    } else {
      o.put('-');
    }
    o.put("\" ");
    o.num(e.status);
    o.put(' ');
    o.num(e.sent);
    o.put(" \"");
    o.combined(referer);
    o.put("\" \"");
    o.combined(agent);
    o.put("\"\n");
    return static_cast<std::size_t>(o.p - out);
  }
  o.put("{\"time\":\"");
  o.num(static_cast<uint64_t>(t.tm_year + 1900));
  o.put('-');
  o.two(static_cast<unsigned>(t.tm_mon + 1));
  o.put('-');
  o.two(static_cast<unsigned>(t.tm_mday));
  o.put('T');
  o.two(static_cast<unsigned>(t.tm_hour));
  o.put(':');
  o.two(static_cast<unsigned>(t.tm_min));
  o.put(':');
  o.two(static_cast<unsigned>(t.tm_sec));
  o.put('.');
  o.put(static_cast<char>('0' + ms / 100));
  o.two(ms % 100);
  o.put("Z\",\"client\":");
  o.jsonOrNull(cut(c.client, 64));
  o.put(",\"method\":");
  o.jsonOrNull(e.hasRequest ? method : std::string_view());
  o.put(",\"path\":");
  o.jsonOrNull(e.hasRequest ? target : std::string_view());
  o.put(",\"protocol\":");
  o.jsonOrNull(e.hasRequest ? proto : std::string_view());
  o.put(",\"status\":");
  o.num(e.status);
  o.put(",\"bytes_sent\":");
  o.num(e.sent);
  o.put(",\"duration\":");
  o.seconds(durNs);
  o.put(",\"upstream_duration\":");
  if (e.upHeadNs != 0 && e.upHeadNs >= e.startNs)
    o.seconds(e.upHeadNs - e.startNs);
  else
    o.put("null");
  o.put(",\"listener\":");
  o.json(cut(listener, 128));
  o.put(",\"route\":");
  o.jsonOrNull(cut(c.route, 128));
  o.put(",\"cluster\":");
  o.jsonOrNull(cut(c.cluster, 128));
  o.put(",\"upstream\":");
  o.jsonOrNull(e.upstream != nullptr ? cut(*e.upstream, 128) : std::string_view());
  o.put(",\"request_id\":");
  o.jsonOrNull({e.requestId, e.requestIdLen});
  o.put(",\"user_agent\":");
  o.jsonOrNull(agent);
  o.put(",\"referer\":");
  o.jsonOrNull(referer);
  o.put("}\n");
  return static_cast<std::size_t>(o.p - out);
}

void AccessLog::finish(AccessEntry* e, const AccessContext& c) {
  Buffer* b = &filling();
  if (BufferSize - b->len < MaxLine && !seal()) {
    drop(1, "the disk is not keeping up");
  } else {
    b = &filling();
    if (!b->data)
      b->data = std::make_unique<char[]>(BufferSize);
    const std::size_t n = format(listener_.access_log->format, b->data.get() + b->len, *e, c,
                                 listener_.name, clockNs(CLOCK_REALTIME), nowNs());
    b->len += static_cast<uint32_t>(n);
    ++b->lines;
    if (BufferSize - b->len < MaxLine)
      seal();
    kick();
  }
  e->next = free_;
  free_ = e;
}

bool AccessLog::seal() {
  Buffer& b = filling();
  if (b.len == 0)
    return true;
  if (queued_ + 1 >= MaxBuffers)
    return false; // keep one to fill
  b.fd = fd_;
  ++queued_;
  return true;
}

// Everything queued for the same descriptor goes in one writev: when the writes fall behind
// (a slow disk, or io-wq waiting for a CPU), each one carries more, not just one buffer.
void AccessLog::kick() {
  if (inflight_ || queued_ == 0)
    return;
  const int fd = bufs_[head_].fd;
  std::size_t n = 0;
  while (n < queued_ && bufs_[(head_ + n) % MaxBuffers].fd == fd) {
    Buffer& b = bufs_[(head_ + n) % MaxBuffers];
    const uint32_t off = n == 0 ? writeOff_ : 0;
    iov_[n] = {b.data.get() + off, b.len - off};
    ++n;
  }
  writing_ = n;
  inflight_ = true;
  loop_.writeFile(fd, iov_, static_cast<unsigned>(n), *this);
}

void AccessLog::flush() {
  if (filling().len > 0)
    seal();
  kick();
}

bool AccessLog::idle() const {
  return !inflight_ && queued_ == 0 && bufs_[(head_ + queued_) % MaxBuffers].len == 0;
}

void AccessLog::onFileWritten(int res) {
  inflight_ = false;
  const std::size_t n = std::exchange(writing_, 0);
  if (res <= 0) { // the buffers of this write are lost
    uint64_t lost = 0;
    for (std::size_t i = 0; i < n; ++i) {
      lost += bufs_[head_].lines;
      release();
    }
    drop(lost, res < 0 ? std::strerror(-res) : "nothing written");
    kick();
    return;
  }
  // A short write (a full disk, a file size limit) leaves the rest for the next one.
  std::size_t left = static_cast<std::size_t>(res);
  for (std::size_t i = 0; i < n; ++i) {
    Buffer& b = bufs_[head_];
    const std::size_t rest = b.len - writeOff_;
    if (left < rest) {
      writeOff_ += static_cast<uint32_t>(left);
      break;
    }
    left -= rest;
    io::bump(lines_, b.lines);
    release();
  }
  if (dropping_) {
    LOG_WARN("listener=%s: access log %s: writing again after dropping %lu lines",
             listener_.name.c_str(), listener_.access_log->path.c_str(),
             static_cast<unsigned long>(burstDropped_));
    dropping_ = false;
    burstDropped_ = 0;
  }
  kick();
}

// The head buffer is written (or lost): empty it, and close its descriptor if it was the last
// user of one replaced by reopen().
void AccessLog::release() {
  Buffer& b = bufs_[head_];
  const int fd = b.fd;
  b.len = b.lines = 0;
  b.fd = -1;
  writeOff_ = 0;
  head_ = (head_ + 1) % MaxBuffers;
  --queued_;
  if (fd != fd_)
    closeUnused(fd);
}

void AccessLog::closeUnused(int fd) {
  for (std::size_t i = 0; i < queued_; ++i)
    if (bufs_[(head_ + i) % MaxBuffers].fd == fd)
      return;
  ::close(fd);
  loop_.countSyscall();
}

void AccessLog::drop(uint64_t n, const char* why) {
  io::bump(dropped_, n);
  burstDropped_ += n;
  if (!dropping_) {
    dropping_ = true;
    LOG_WARN("listener=%s: access log %s: dropping lines (%s); counted in "
             "ringway_access_log_dropped_lines_total",
             listener_.name.c_str(), listener_.access_log->path.c_str(), why);
  }
}

void AccessLog::reopen() {
  const int fd = openLog(listener_.access_log->path);
  loop_.countSyscall();
  if (fd < 0) {
    LOG_ERROR("listener=%s: cannot reopen access log %s: %s; still writing to the old file",
              listener_.name.c_str(), listener_.access_log->path.c_str(), std::strerror(errno));
    return;
  }
  seal(); // what is buffered belongs to the old file (if the queue is full: to the new one)
  const int old = fd_;
  fd_ = fd;
  if (old >= 0)
    closeUnused(old);
  io::bump(reopens_);
  LOG_INFO("listener=%s: access log %s reopened", listener_.name.c_str(),
           listener_.access_log->path.c_str());
  kick();
}

} // namespace ringway::net
