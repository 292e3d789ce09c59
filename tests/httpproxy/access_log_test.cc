// Access logs through a real proxy over loopback (io_uring and epoll): one line per request,
// every field checked against what was sent and received, both formats, the proxy's own
// answers (400, direct responses, redirects), escaping, reopening after a rename (in process
// and by SIGUSR1 to the real binary), and the memory bound when the file takes nothing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "core/server.h"
#include "httpproxy/common.h"
#include "net/access_log.h"
#include "support/json.h"

namespace ringway::httptest {
namespace {

class TempDir {
public:
  TempDir() {
    char t[] = "/tmp/ringway-accesslog-XXXXXX";
    const char* p = mkdtemp(t);
    path_ = p != nullptr ? p : "";
  }
  ~TempDir() {
    const std::string cmd = "rm -rf '" + path_ + "'";
    if (!path_.empty() && std::system(cmd.c_str()) != 0) {
    }
  }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

std::vector<std::string> readLines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream f(path, std::ios::binary);
  std::string line;
  while (std::getline(f, line))
    out.push_back(line);
  return out;
}

// Polls until the file has at least n lines (the log is flushed every 100 ms) or 5 s pass.
std::vector<std::string> waitLines(const std::string& path, std::size_t n, Ms limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  std::vector<std::string> lines;
  for (;;) {
    lines = readLines(path);
    if (lines.size() >= n || std::chrono::steady_clock::now() > end)
      return lines;
    std::this_thread::sleep_for(20ms);
  }
}

// One json line as the tests read it: a one-level object of string, number and null values,
// written compactly, \u00XX decoding to the byte XX (tests/support/json.h), so a decoded value
// equals the bytes that were sent. Anything else (a nested value, true/false, a number other
// than digits and a dot, white space) makes it not ok.
struct JsonLine {
  bool ok = false;
  std::string error;
  std::map<std::string, std::string> strings;
  std::map<std::string, std::string> numbers; // the literal text
  std::vector<std::string> nulls;
  bool isNull(const std::string& k) const {
    return std::find(nulls.begin(), nulls.end(), k) != nulls.end();
  }
};

JsonLine parseJson(const std::string& s) {
  JsonLine j;
  testsupport::Json doc;
  try {
    doc = testsupport::parseJson(s, {.compact = true, .bytesEscapes = true});
  } catch (const std::exception& e) {
    j.error = std::string(e.what()) + " in: " + s;
    return j;
  }
  if (!doc.isObject() || doc.object().empty()) {
    j.error = "not an object with members: " + s;
    return j;
  }
  for (const auto& [key, v] : doc.object()) {
    if (v.isString()) {
      j.strings[key] = v.str();
    } else if (std::holds_alternative<std::nullptr_t>(v.v)) {
      j.nulls.push_back(key);
    } else if (v.isNumber() && v.literal.find_first_not_of("0123456789.") == std::string::npos) {
      j.numbers[key] = v.literal;
    } else {
      j.error = "bad value for " + key + " in: " + s;
      return j;
    }
  }
  j.ok = true;
  return j;
}

// Undoes the combined format's \xHH escaping.
std::string unescapeCombined(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 0 && s[i + 1] == 'x') {
      out += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

const std::regex
    CombinedLine(R"RE(^(\S+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000)\] )RE"
                 R"RE("([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$)RE");

std::string yamlWith(const std::string& accessLog) {
  // The shared test config, with an access_log on its one listener.
  return replaceAll(ProxyYaml, "    request_header_timeout: 400ms\n",
                    "    request_header_timeout: 400ms\n    access_log: " + accessLog + "\n");
}

class AccessLogTest : public ::testing::TestWithParam<std::string> {
protected:
  void start(const std::string& format, const std::string& file = "") {
    REQUIRE_BACKEND(GetParam());
    path_ = file.empty() ? dir_.path() + "/access.log" : file;
    std::string yaml = yamlWith("{ path: \"" + path_ + "\", format: " + format + " }");
    proxy_ = std::make_unique<Proxy>(withTestPorts(yaml, upstream_), GetParam());
  }
  uint16_t port() const { return proxy_->port(); }
  net::AccessLog& log() { return *proxy_->server().workers().at(0)->accessLogs().at(0); }

  TempDir dir_;
  std::string path_;
  Upstream upstream_;
  std::unique_ptr<Proxy> proxy_;
};

struct Sent {
  std::string method, target, id, agent, referer;
  int status = 0;
  std::size_t bodyBytes = 0;
  std::string route, cluster;
};

// A mix of proxied requests and the proxy's own answers, on two kept-alive connections.
std::vector<Sent> sendMix(uint16_t port, int n) {
  std::vector<Sent> sent;
  Client a(port), b(port);
  for (int i = 0; i < n; ++i) {
    Sent s;
    s.id = "req-" + std::to_string(i);
    s.agent = "agent/" + std::to_string(i);
    s.referer = i % 3 == 0 ? "" : "http://ref.example/" + std::to_string(i);
    switch (i % 5) {
    case 0:
      s.method = "GET";
      s.target = "/p/" + std::to_string(i) + "?q=" + std::to_string(i);
      s.route = "default";
      s.cluster = "up";
      break;
    case 1:
      s.method = "GET";
      s.target = "/direct";
      s.route = "direct";
      break;
    case 2:
      s.method = "GET";
      s.target = "/old/x" + std::to_string(i);
      s.route = "redirect";
      break;
    case 3:
      s.method = "POST";
      s.target = "/echo";
      s.route = "default";
      s.cluster = "up";
      break;
    case 4:
      s.method = "HEAD";
      s.target = "/bytes?n=" + std::to_string(100 + i);
      s.route = "default";
      s.cluster = "up";
      break;
    }
    std::string extra = "X-Request-Id: " + s.id + "\r\nUser-Agent: " + s.agent + "\r\n";
    if (!s.referer.empty())
      extra += "Referer: " + s.referer + "\r\n";
    Client& c = i % 2 == 0 ? a : b;
    const std::string body = s.method == "POST" ? "body-" + s.id : "";
    EXPECT_TRUE(c.send(request(s.method, s.target, extra, body)));
    const Response r = c.read(s.method == "HEAD");
    EXPECT_TRUE(r.ok) << r.describe();
    s.status = r.status;
    s.bodyBytes = s.method == "HEAD" ? 0 : r.body.size();
    sent.push_back(s);
  }
  return sent;
}

TEST_P(AccessLogTest, JsonLineForEveryRequestFieldByField) {
  start("json");
  if (!proxy_)
    return;
  const int n = 40;
  const std::vector<Sent> sent = sendMix(port(), n);
  const std::vector<std::string> lines = waitLines(path_, n);
  std::this_thread::sleep_for(300ms); // nothing more may come
  ASSERT_EQ(readLines(path_).size(), static_cast<std::size_t>(n));
  std::map<std::string, JsonLine> byId;
  const std::regex time(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
  for (const std::string& l : lines) {
    JsonLine j = parseJson(l);
    ASSERT_TRUE(j.ok) << j.error;
    ASSERT_TRUE(std::regex_match(j.strings["time"], time)) << l;
    byId[j.strings["request_id"]] = j;
  }
  ASSERT_EQ(byId.size(), static_cast<std::size_t>(n));
  for (const Sent& s : sent) {
    SCOPED_TRACE(s.id);
    ASSERT_TRUE(byId.count(s.id));
    JsonLine& j = byId[s.id];
    EXPECT_EQ(j.strings["method"], s.method);
    EXPECT_EQ(j.strings["path"], s.target);
    EXPECT_EQ(j.strings["protocol"], "HTTP/1.1");
    EXPECT_EQ(j.numbers["status"], std::to_string(s.status));
    EXPECT_EQ(j.numbers["bytes_sent"], std::to_string(s.bodyBytes));
    EXPECT_EQ(j.strings["client"], "127.0.0.1");
    EXPECT_EQ(j.strings["listener"], "web");
    EXPECT_EQ(j.strings["route"], s.route);
    EXPECT_EQ(j.strings["user_agent"], s.agent);
    if (s.referer.empty())
      EXPECT_TRUE(j.isNull("referer"));
    else
      EXPECT_EQ(j.strings["referer"], s.referer);
    EXPECT_TRUE(j.numbers.count("duration"));
    if (s.cluster.empty()) {
      EXPECT_TRUE(j.isNull("cluster"));
      EXPECT_TRUE(j.isNull("upstream"));
      EXPECT_TRUE(j.isNull("upstream_duration"));
    } else {
      EXPECT_EQ(j.strings["cluster"], s.cluster);
      EXPECT_EQ(j.strings["upstream"], upstream_.address());
      EXPECT_TRUE(j.numbers.count("upstream_duration"));
    }
  }
  EXPECT_EQ(log().lines(), static_cast<uint64_t>(n));
  EXPECT_EQ(log().dropped(), 0u);
}

TEST_P(AccessLogTest, CombinedFormatMatchesNginx) {
  start("combined");
  if (!proxy_)
    return;
  const int n = 25;
  const std::vector<Sent> sent = sendMix(port(), n);
  const std::vector<std::string> lines = waitLines(path_, n);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(n));
  // One connection answers its requests in order; the two interleave: match by agent.
  std::map<std::string, std::smatch> byAgent;
  std::vector<std::smatch> matches(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    ASSERT_TRUE(std::regex_match(lines[i], matches[i], CombinedLine)) << lines[i];
    byAgent[matches[i][7].str()] = matches[i];
  }
  for (const Sent& s : sent) {
    SCOPED_TRACE(s.id);
    ASSERT_TRUE(byAgent.count(s.agent));
    const std::smatch& m = byAgent[s.agent];
    EXPECT_EQ(m[1].str(), "127.0.0.1");
    EXPECT_EQ(m[3].str(), s.method + " " + s.target + " HTTP/1.1");
    EXPECT_EQ(m[4].str(), std::to_string(s.status));
    EXPECT_EQ(m[5].str(), std::to_string(s.bodyBytes));
    EXPECT_EQ(m[6].str(), s.referer.empty() ? "-" : s.referer);
  }
}

TEST_P(AccessLogTest, ProxyAnswersAreLoggedWithEscaping) {
  start("combined");
  if (!proxy_)
    return;
  // A target with a quote and a control byte: the parser refuses it (400), the log shows it.
  std::size_t badBody = 0;
  {
    Client c(port());
    ASSERT_TRUE(c.send(std::string("GET /a\"b\x01"
                                   "c HTTP/1.1\r\nHost: x\r\n\r\n")));
    const Response r = c.read();
    ASSERT_TRUE(r.ok) << r.describe();
    EXPECT_EQ(r.status, 400);
    badBody = r.body.size();
  }
  // A valid request whose User-Agent has a quote, a backslash, a tab and bytes that are not
  // UTF-8 (obs-text): 200, escaped in the log.
  const std::string agent = "a\"b\\c\td\xff\xfe";
  {
    Client c(port());
    ASSERT_TRUE(c.send(request("GET", "/direct", "User-Agent: " + agent + "\r\n")));
    const Response r = c.read();
    ASSERT_TRUE(r.ok) << r.describe();
    EXPECT_EQ(r.status, 200);
  }
  const std::vector<std::string> lines = waitLines(path_, 2);
  ASSERT_EQ(lines.size(), 2u);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines[0], m, CombinedLine)) << lines[0];
  EXPECT_EQ(m[3].str(), "GET /a\\x22b\\x01c HTTP/1.1");
  EXPECT_EQ(m[4].str(), "400");
  EXPECT_EQ(m[5].str(), std::to_string(badBody));
  ASSERT_TRUE(std::regex_match(lines[1], m, CombinedLine)) << lines[1];
  EXPECT_EQ(m[7].str(), "a\\x22b\\x5cc\\x09d\\xff\\xfe");
  EXPECT_EQ(unescapeCombined(m[7].str()), agent);
}

TEST_P(AccessLogTest, JsonEscapingRoundTrips) {
  start("json");
  if (!proxy_)
    return;
  const std::string agent = "q\"b\\s\tt\xff \xc3\xa9"; // é is valid UTF-8, 0xff is not
  {
    Client c(port());
    ASSERT_TRUE(c.send(std::string("GET /x\"y\x7f HTTP/1.1\r\nHost: x\r\n\r\n")));
    const Response r = c.read();
    EXPECT_EQ(r.status, 400) << r.describe();
  }
  {
    Client c(port());
    ASSERT_TRUE(c.send(request("GET", "/direct", "User-Agent: " + agent + "\r\n")));
    EXPECT_EQ(c.read().status, 200);
  }
  const std::vector<std::string> lines = waitLines(path_, 2);
  ASSERT_EQ(lines.size(), 2u);
  JsonLine bad = parseJson(lines[0]);
  ASSERT_TRUE(bad.ok) << bad.error;
  EXPECT_EQ(bad.strings["path"], "/x\"y\x7f");
  EXPECT_EQ(bad.numbers["status"], "400");
  EXPECT_TRUE(bad.isNull("route"));
  EXPECT_NE(lines[0].find(R"("path":"/x\"y\u007f")"), std::string::npos) << lines[0];
  JsonLine good = parseJson(lines[1]);
  ASSERT_TRUE(good.ok) << good.error;
  EXPECT_EQ(good.strings["user_agent"], "q\"b\\s\tt\xff \xc3\xa9");
  EXPECT_NE(lines[1].find("\\u00ff \xc3\xa9"), std::string::npos) << "UTF-8 kept, 0xff escaped";
}

TEST_P(AccessLogTest, RequestHeaderTimeoutIs408WithoutARequest) {
  start("json");
  if (!proxy_)
    return;
  Client c(port());
  ASSERT_TRUE(c.send("GET /slow HTTP/1.1\r\nHost: x\r\n")); // never finished: 408 at 400 ms
  const Response r = c.read();
  ASSERT_TRUE(r.ok) << r.describe();
  EXPECT_EQ(r.status, 408);
  const std::vector<std::string> lines = waitLines(path_, 1);
  ASSERT_EQ(lines.size(), 1u);
  JsonLine j = parseJson(lines[0]);
  ASSERT_TRUE(j.ok) << j.error;
  EXPECT_EQ(j.numbers["status"], "408");
  EXPECT_TRUE(j.isNull("method"));
}

TEST_P(AccessLogTest, ReopenAfterRenameSplitsTheLines) {
  start("combined");
  if (!proxy_)
    return;
  Client c(port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.send(request("GET", "/direct?before=" + std::to_string(i))));
    ASSERT_EQ(c.read().status, 200);
  }
  ASSERT_EQ(waitLines(path_, 5).size(), 5u);
  const std::string rotated = path_ + ".1";
  ASSERT_EQ(::rename(path_.c_str(), rotated.c_str()), 0);
  proxy_->server().reopenLogs();
  const auto end = std::chrono::steady_clock::now() + 5s;
  struct stat st {};
  while (::stat(path_.c_str(), &st) != 0 && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(::stat(path_.c_str(), &st), 0) << "reopen creates the file again";
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(c.send(request("GET", "/direct?after=" + std::to_string(i))));
    ASSERT_EQ(c.read().status, 200);
  }
  const std::vector<std::string> fresh = waitLines(path_, 7);
  ASSERT_EQ(fresh.size(), 7u);
  for (const std::string& l : fresh)
    EXPECT_NE(l.find("?after="), std::string::npos) << l;
  const std::vector<std::string> old = readLines(rotated);
  ASSERT_EQ(old.size(), 5u);
  for (const std::string& l : old)
    EXPECT_NE(l.find("?before="), std::string::npos) << l;
  EXPECT_EQ(log().reopens(), 1u);
}

TEST_P(AccessLogTest, FailingWritesAreCountedAsDrops) {
  start("json", "/dev/full"); // every write fails with ENOSPC
  if (!proxy_)
    return;
  Client c(port());
  const int n = 30;
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(c.send(request("GET", "/direct")));
    ASSERT_EQ(c.read().status, 200);
  }
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (log().dropped() < n && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(log().dropped(), static_cast<uint64_t>(n));
  EXPECT_EQ(log().lines(), 0u);
}

// A FIFO that we hold open but never read takes 64 KiB, then every write waits. The proxy must
// go on serving with bounded memory: lines beyond its buffers are dropped and counted.
TEST_P(AccessLogTest, AFileThatTakesNothingDoesNotStopServing) {
  const std::string fifo = dir_.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  const int reader = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC); // never read
  ASSERT_GE(reader, 0);
  start("json", fifo);
  if (!proxy_) {
    ::close(reader);
    return;
  }
  // Long lines (a 1000-byte target, a 250-byte agent): ~1.4 KiB each. Twice as many as the
  // pipe (64 KiB) and every buffer of the log could hold.
  const std::string longPath = "/direct?" + std::string(990, 'x');
  const std::string agent(250, 'a');
  const int n = static_cast<int>(
      2 * (64 * 1024 + net::AccessLog::MaxBuffers * net::AccessLog::BufferSize) / 1400);
  Client c(port());
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(c.send(request("GET", longPath, "User-Agent: " + agent + "\r\n")));
    const Response r = c.read();
    ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.describe();
  }
  const uint64_t dropped = log().dropped();
  EXPECT_GT(dropped, 0u);
  EXPECT_LT(dropped, static_cast<uint64_t>(n));
  EXPECT_LT(log().lines(), static_cast<uint64_t>(n)) << "the pipe took some, then nothing";
  // Read the FIFO until the proxy is gone, so its last writes finish and it stops cleanly.
  std::atomic<bool> done{false};
  std::size_t got = 0;
  std::thread drainer([&] {
    char buf[65536];
    while (!done) {
      const ssize_t r = ::read(reader, buf, sizeof buf);
      if (r > 0)
        got += static_cast<std::size_t>(r);
      else
        std::this_thread::sleep_for(5ms);
    }
  });
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (log().lines() + log().dropped() < static_cast<uint64_t>(n) &&
         std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(log().lines() + log().dropped(), static_cast<uint64_t>(n))
      << "every line written or dropped, none lost uncounted";
  proxy_.reset();
  done = true;
  drainer.join();
  ::close(reader);
  EXPECT_GT(got, 0u);
}

HTTPPROXY_BACKENDS(AccessLogTest);

// The real binary: SIGUSR1 after logrotate's rename, and --check refusing a bad access_log.
class AccessLogProcess : public ::testing::Test {
protected:
  ~AccessLogProcess() override { stop(); }
  std::string startBinary(const std::string& yaml) {
    const std::string cfg = dir_.path() + "/ringway.yaml";
    std::ofstream(cfg) << yaml;
    errPath_ = dir_.path() + "/stderr.log";
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = ::open(errPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 2);
        dup2(fd, 1);
      }
      execl(RINGWAY_BINARY, RINGWAY_BINARY, "-c", cfg.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto end = std::chrono::steady_clock::now() + 20s;
    const std::regex listening("listening on 127\\.0\\.0\\.1:(\\d+)");
    while (std::chrono::steady_clock::now() < end) {
      std::ifstream f(errPath_);
      std::stringstream ss;
      ss << f.rdbuf();
      const std::string log = ss.str();
      std::smatch m;
      if (std::regex_search(log, m, listening)) {
        port_ = static_cast<uint16_t>(std::stoi(m[1].str()));
        return "";
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "exited: " + log;
      }
      std::this_thread::sleep_for(20ms);
    }
    return "no port within 20 s";
  }
  void stop() {
    if (pid_ <= 0)
      return;
    kill(pid_, SIGTERM);
    const auto end = std::chrono::steady_clock::now() + 10s;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > end) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    pid_ = -1;
  }
  std::string stderrText() const {
    std::ifstream f(errPath_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  TempDir dir_;
  std::string errPath_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

TEST_F(AccessLogProcess, Sigusr1ReopensAfterLogrotateRenames) {
  const std::string path = dir_.path() + "/access.log";
  const std::string yaml = R"(workers: 2
admin: off
listeners:
  - name: web
    address: "127.0.0.1:0"
    protocol: http
    access_log: { path: access.log, format: json }
    routes:
      - direct_response: { status: 200, body: "hi\n" }
clusters: []
)";
  // clusters may not be empty: give it one nobody uses.
  const std::string withCluster =
      replaceAll(yaml, "clusters: []\n",
                 "clusters:\n  - { name: none, endpoints: [ { address: \"127.0.0.1:9\" } ] }\n");
  const std::string why = startBinary(withCluster);
  ASSERT_EQ(why, "");
  auto send = [&](int count, const std::string& tag) {
    for (int i = 0; i < count; ++i) {
      Client c(port_); // a new connection each: both workers get some
      ASSERT_TRUE(c.send(request("GET", "/" + tag + std::to_string(i))));
      ASSERT_EQ(c.read().status, 200);
    }
  };
  send(10, "before");
  ASSERT_EQ(waitLines(path, 10).size(), 10u);
  ASSERT_EQ(::rename(path.c_str(), (path + ".1").c_str()), 0);
  ASSERT_EQ(kill(pid_, SIGUSR1), 0);
  // Each worker logs its reopen.
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < end) {
    const std::string e = stderrText();
    std::size_t n = 0;
    for (std::size_t at = e.find("reopened"); at != std::string::npos;
         at = e.find("reopened", at + 1))
      ++n;
    if (n >= 2)
      break;
    std::this_thread::sleep_for(20ms);
  }
  send(12, "after");
  const std::vector<std::string> fresh = waitLines(path, 12);
  EXPECT_EQ(fresh.size(), 12u);
  for (const std::string& l : fresh)
    EXPECT_NE(l.find("\"/after"), std::string::npos) << l;
  std::this_thread::sleep_for(200ms);
  const std::vector<std::string> old = readLines(path + ".1");
  EXPECT_EQ(old.size(), 10u);
  for (const std::string& l : old)
    EXPECT_NE(l.find("\"/before"), std::string::npos) << l;
  stop();
  EXPECT_EQ(readLines(path).size(), 12u) << "nothing more at shutdown";
  EXPECT_NE(stderrText().find("SIGUSR1: reopening access logs"), std::string::npos) << stderrText();
}

TEST_F(AccessLogProcess, CheckRefusesAMissingDirectory) {
  const std::string cfg = dir_.path() + "/bad.yaml";
  std::ofstream(cfg) << R"(listeners:
  - name: web
    address: "127.0.0.1:0"
    protocol: http
    access_log: { path: /nonexistent-ringway/a.log, format: jsonl }
    routes: [ { direct_response: { status: 200 } } ]
clusters:
  - { name: none, endpoints: [ { address: "127.0.0.1:9" } ] }
)";
  const std::string cmd = std::string(RINGWAY_BINARY) + " --check -c " + cfg + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr)
    out += buf;
  const int rc = pclose(p);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find(cfg + ":5:25: "), std::string::npos) << out;
  EXPECT_NE(out.find("does not exist"), std::string::npos) << out;
  EXPECT_NE(out.find("did you mean 'json'?"), std::string::npos) << out;
}

} // namespace
} // namespace ringway::httptest
