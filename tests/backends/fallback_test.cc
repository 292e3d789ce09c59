// io.backend: auto where io_uring is forbidden: the real binary runs under a seccomp filter
// that fails io_uring_setup (as containers' default profiles do), must say so in one log line
// and serve on epoll. And what the threads backend refuses to run.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>

#include "backends/backend_fixture.h"

namespace ringway::itest {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
#define RINGWAY_NO_SECCOMP_TEST 1
#endif

std::string readAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

#ifndef RINGWAY_NO_SECCOMP_TEST
// fork, then in the child: no_new_privs, a filter that makes io_uring_setup fail with `err`,
// exec ringway. Only async-signal-safe calls between fork and exec; the filter is built before.
pid_t spawnUnderSeccomp(const std::vector<std::string>& args, const std::string& logPath, int err) {
  static sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO),  // errno patched in below
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  filter[5].k = SECCOMP_RET_ERRNO | (static_cast<uint32_t>(err) & SECCOMP_RET_DATA);
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(RINGWAY_BINARY));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  const int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (log < 0) ::_exit(126);
  ::dup2(log, STDERR_FILENO);
  ::dup2(log, STDOUT_FILENO);
  ::syscall(SYS_close_range, 3U, ~0U, 0U);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(124);
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) ::_exit(123);
  ::execv(RINGWAY_BINARY, argv.data());
  ::_exit(127);
}
#endif

class AutoFallback : public ::testing::TestWithParam<int> {};

TEST_P(AutoFallback, SeccompDeniedIoUringFallsBackToEpollWithOneLogLine) {
#ifdef RINGWAY_NO_SECCOMP_TEST
  GTEST_SKIP() << "no seccomp arch constant for this CPU";
#else
  EchoServer echo;
  ProxyConfig pc;
  pc.endpoints = {echo.address()};
  TempDir dir;
  const std::string cfg = dir.write("ringway.yaml", pc.yaml());
  const std::string logPath = dir.path() + "/stderr";
  const pid_t pid = spawnUnderSeccomp({"-c", cfg, "--backend", "auto"}, logPath, GetParam());
  ASSERT_GT(pid, 0);
  int status = 0;
  bool exited = false;
  auto alive = [&] {
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    return !exited;
  };
  const bool serving = waitFor(
      [&] { return !alive() || readAll(logPath).find("serving with") != std::string::npos; }, 20s);
  const std::string log = readAll(logPath);
  ASSERT_TRUE(serving && !exited) << "ringway did not start (status " << status << "):\n" << log;
  // One line says why, naming the failed call; the workers run epoll.
  std::size_t lines = 0;
  for (std::size_t at = log.find("using the epoll backend"); at != std::string::npos;
       at = log.find("using the epoll backend", at + 1))
    ++lines;
  EXPECT_EQ(lines, 1u) << log;
  EXPECT_NE(log.find("io_uring is not usable here"), std::string::npos) << log;
  EXPECT_NE(log.find(std::strerror(GetParam())), std::string::npos)
      << "the log line should carry the reason (" << std::strerror(GetParam()) << "):\n" << log;
  EXPECT_NE(log.find("(epoll)"), std::string::npos) << log;
  // And it serves.
  const auto at = log.find(" listening on ");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string addr = log.substr(at + 14, log.find(' ', at + 14) - (at + 14));
  const auto port = static_cast<uint16_t>(std::atoi(addr.c_str() + addr.rfind(':') + 1));
  Fd c = connectLoopback(port);
  ASSERT_TRUE(c);
  EXPECT_EQ(echoRoundTrip(c.get(), RandomStream(3), 0, 4096, Deadline(10s)), "");
  c.reset();
  ::kill(pid, SIGTERM);
  EXPECT_TRUE(waitFor([&] { return !alive(); }, 15s)) << "did not exit on SIGTERM";
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
#endif
}

INSTANTIATE_TEST_SUITE_P(Errno, AutoFallback, ::testing::Values(ENOSYS, EPERM),
                         [](const auto& i) { return i.param == ENOSYS ? "ENOSYS" : "EPERM"; });

// With --backend io_uring the same filter is an error, not a fallback.
TEST(AutoFallback, ExplicitIoUringUnderSeccompFailsClearly) {
#ifdef RINGWAY_NO_SECCOMP_TEST
  GTEST_SKIP() << "no seccomp arch constant for this CPU";
#else
  ProxyConfig pc;
  pc.endpoints = {loopback(unusedPort())};
  TempDir dir;
  const std::string cfg = dir.write("ringway.yaml", pc.yaml());
  const std::string logPath = dir.path() + "/stderr";
  const pid_t pid = spawnUnderSeccomp({"-c", cfg, "--backend", "io_uring"}, logPath, EPERM);
  int status = 0;
  bool exited = waitFor([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 20s);
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  const std::string log = readAll(logPath);
  ASSERT_TRUE(exited) << log;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "status " << status << "\n" << log;
  EXPECT_NE(log.find("io_uring is not usable here"), std::string::npos) << log;
#endif
}

// The threads backend serves tcp and http listeners, and says at --check what it cannot serve.
TEST(ThreadsBackend, CheckAcceptsTcpAndHttpAndRejectsTheRest) {
  TempDir dir;
  const std::string http = dir.write(
      "http.yaml",
      "admin: off\n"
      "listeners:\n"
      "  - { name: web, address: \"127.0.0.1:0\", protocol: http, routes: [ { cluster: be } ] }\n"
      "clusters:\n"
      "  - { name: be, endpoints: [ { address: \"127.0.0.1:1\" } ] }\n");
  const RunResult h = runBinary({"--check", "-c", http, "--backend", "threads"});
  EXPECT_EQ(h.exitCode, 0) << h.err;
  const std::string pass = dir.write(
      "pass.yaml",
      "admin: off\n"
      "listeners:\n"
      "  - { name: sni, address: \"127.0.0.1:0\", protocol: tls_passthrough,"
      " routes: [ { cluster: be } ] }\n"
      "clusters:\n"
      "  - { name: be, endpoints: [ { address: \"127.0.0.1:1\" } ] }\n");
  const RunResult plain = runBinary({"--check", "-c", pass});
  if (plain.exitCode != 0) GTEST_SKIP() << "this build rejects the tls_passthrough config: " << plain.err;
  const RunResult threads = runBinary({"--check", "-c", pass, "--backend", "threads"});
  EXPECT_EQ(threads.exitCode, 1);
  EXPECT_NE(threads.err.find("threads backend serves tcp and http listeners only"),
            std::string::npos)
      << threads.err;
  ProxyConfig pc;
  pc.endpoints = {"127.0.0.1:1"};
  const RunResult tcp =
      runBinary({"--check", "-c", dir.write("tcp.yaml", pc.yaml()), "--backend", "threads"});
  EXPECT_EQ(tcp.exitCode, 0) << tcp.err;
}

}  // namespace
}  // namespace ringway::itest
