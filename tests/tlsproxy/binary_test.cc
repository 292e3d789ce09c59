// The real binary: `ringway --check` on bad TLS files, and `openssl s_client` / `curl
// --resolve` against a TLS-terminated listener.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tlsproxy/support.h"

namespace ringway::tlsproxy {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs a shell command; returns its exit status and stdout+stderr.
int shell(const std::string& cmd, std::string* out) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  const int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

class Binary {
 public:
  explicit Binary(const std::string& yaml) {
    dir_ = pki().dir;
    config_ =
        dir_ + "/bin-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) + ".yaml";
    log_ = config_ + ".log";
    std::ofstream(config_) << yaml;
  }
  ~Binary() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  int check(std::string* out) {
    return shell(std::string(RINGWAY_BINARY) + " --check -c " + config_, out);
  }
  // Starts it; returns the port of the first listener, or 0.
  uint16_t start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 2);
      ::execl(RINGWAY_BINARY, RINGWAY_BINARY, "-c", config_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // std::regex draws a GCC 12 -Wmaybe-uninitialized false positive under ASan: by hand.
    static const std::string needle = "listening on 127.0.0.1:";
    uint16_t port = 0;
    waitFor(
        [&] {
          const std::string log = slurp(log_);
          const std::size_t at = log.find(needle);
          if (at != std::string::npos)
            port = static_cast<uint16_t>(std::atoi(log.c_str() + at + needle.size()));
          return port != 0;
        },
        20s);
    return port;
  }
  std::string log() const { return slurp(log_); }
  int stop() {
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

 private:
  static inline int counter_ = 0;
  std::string dir_, config_, log_;
  pid_t pid_ = -1;
};

Backend::Handler http(const std::string& body) {
  return [body](int fd) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, static_cast<std::size_t>(n));
    }
    const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\nConnection: close\r\n\r\n" + body;
    sendRaw(fd, resp.data(), resp.size());
  };
}

std::string config(const std::string& backend, const Backend& be) {
  const Pki& p = pki();
  return "workers: 2\nadmin: off\nio: { backend: " + backend +
         " }\n"
         "listeners:\n"
         "  - name: https\n"
         "    address: \"127.0.0.1:0\"\n"
         "    protocol: tcp\n"
         "    tls:\n"
         "      certificates:\n"
         "        - { cert: " +
         p.rsa.cert + ", key: " + p.rsa.key +
         ", server_names: [rsa.test] }\n"
         "        - { cert: " +
         p.ecdsa.cert + ", key: " + p.ecdsa.key +
         " }\n"
         "      alpn: [http/1.1]\n"
         "    routes: [ { cluster: web } ]\n"
         "clusters:\n"
         "  - { name: web, endpoints: [ { address: \"" +
         be.address() + "\" } ] }\n";
}

TEST(Binary, CheckReportsBadTlsFilesWithPositions) {
  const Pki& p = pki();
  Binary b(
      "admin: off\nlisteners:\n"
      "  - name: l\n"
      "    address: \"127.0.0.1:0\"\n"
      "    tls: { certificates: [ { cert: " +
      p.rsa.cert + ", key: " + p.ecdsa.key +
      " } ] }\n"
      "    routes: [ { cluster: c } ]\n"
      "clusters:\n"
      "  - name: c\n"
      "    endpoints: [ { address: \"127.0.0.1:9\" } ]\n"
      "    tls: { server_name: x.test, ca: /no/such/ca.pem }\n");
  std::string out;
  EXPECT_EQ(b.check(&out), 1) << out;
  EXPECT_NE(out.find(".yaml:5:"), std::string::npos) << out;
  EXPECT_NE(out.find("private key does not match certificate"), std::string::npos) << out;
  EXPECT_NE(out.find("(at listeners[0].tls.certificates[0].key)"), std::string::npos) << out;
  EXPECT_NE(out.find(".yaml:10:"), std::string::npos) << out;
  EXPECT_NE(out.find("/no/such/ca.pem"), std::string::npos) << out;
  EXPECT_NE(out.find("2 problems"), std::string::npos) << out;
}

class BinarySmoke : public ::testing::TestWithParam<std::string> {};

TEST_P(BinarySmoke, OpensslAndCurl) {
  REQUIRE_BACKEND(GetParam());
  const Pki& p = pki();
  Backend be(http("hello over tls\n"));
  Binary b(config(GetParam(), be));
  const uint16_t port = b.start();
  ASSERT_NE(port, 0) << b.log();
  const std::string ps = std::to_string(port);

  std::string out;
  EXPECT_EQ(shell("curl -sS --max-time 10 --resolve rsa.test:" + ps + ":127.0.0.1 --cacert " +
                      p.root_ca + " https://rsa.test:" + ps + "/",
                  &out),
            0)
      << out;
  EXPECT_EQ(out, "hello over tls\n");

  out.clear();
  EXPECT_EQ(shell("printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | timeout 10 openssl s_client "
                  "-connect 127.0.0.1:" +
                      ps + " -servername ecdsa.test -CAfile " + p.root_ca +
                      " -verify_return_error -alpn http/1.1 -brief -ign_eof",
                  &out),
            0)
      << out;
  EXPECT_NE(out.find("Verification: OK"), std::string::npos) << out;
  EXPECT_NE(out.find("CN = ecdsa.test"), std::string::npos) << out;
  EXPECT_NE(out.find("hello over tls"), std::string::npos) << out;

  out.clear();  // TLS 1.2 too, and nothing older
  EXPECT_EQ(shell("timeout 10 openssl s_client -connect 127.0.0.1:" + ps +
                      " -tls1_2 -brief -CAfile " + p.root_ca + " -servername rsa.test < /dev/null",
                  &out),
            0)
      << out;
  EXPECT_NE(out.find("TLSv1.2"), std::string::npos) << out;
  out.clear();
  EXPECT_NE(
      shell("timeout 10 openssl s_client -connect 127.0.0.1:" + ps + " -tls1_1 -brief < /dev/null",
            &out),
      0)
      << out;
  EXPECT_EQ(b.stop(), 0) << b.log();
}

INSTANTIATE_TEST_SUITE_P(Backends, BinarySmoke, ::testing::Values("io_uring", "epoll"));

}  // namespace
}  // namespace ringway::tlsproxy
