// sd_notify: the datagrams ringway sends to a NOTIFY_SOCKET this test creates, first from
// sdNotifyTo() alone, then from the real binary (READY=1 once it serves, STOPPING=1 on drain).
#include "core/sd_notify.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "deploy/deploy_support.h"

using namespace ringway;
using namespace ringway::deploytest;

namespace {

// A datagram socket bound where a service manager's would be, receiving with the sender's
// credentials (systemd's NotifyAccess=main checks the sender's PID the same way).
class NotifySocket {
public:
  explicit NotifySocket(const std::string& name) : name_(name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (name[0] == '@') {
      addr.sun_path[0] = '\0';
    } else {
      len += 1;
    }
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0) << std::strerror(errno);
    const int on = 1;
    EXPECT_EQ(::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
  }
  ~NotifySocket() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  const std::string& name() const { return name_; }

  struct Message {
    bool got = false;
    std::string text;
    pid_t pid = 0;
  };
  // The next datagram, or got == false at the deadline.
  Message receive(Ms limit) {
    Message m;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1)
      return m;
    char buf[4096];
    iovec iov{buf, sizeof buf};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0)
      return m;
    m.got = true;
    m.text.assign(buf, static_cast<size_t>(n));
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        m.pid = cred.pid;
      }
    }
    return m;
  }

private:
  std::string name_;
  int fd_ = -1;
};

std::string uniqueAbstractName() {
  std::random_device rd;
  return "@ringway-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

} // namespace

TEST(SdNotify, NotConfiguredIsNoOp) {
  auto unset = core::sdNotifyTo(nullptr, "READY=1");
  ASSERT_TRUE(unset.ok());
  EXPECT_FALSE(unset.value());
  auto empty = core::sdNotifyTo("", "READY=1");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty.value());
}

TEST(SdNotify, SendsToPathSocket) {
  TempDir dir;
  NotifySocket sock(dir.path() + "/notify");
  auto r = core::sdNotifyTo(sock.name().c_str(), "READY=1\nSTATUS=hello");
  ASSERT_TRUE(r.ok()) << r.error().what << ": " << std::strerror(r.error().code);
  EXPECT_TRUE(r.value());
  auto m = sock.receive(Ms(5000));
  ASSERT_TRUE(m.got);
  EXPECT_EQ(m.text, "READY=1\nSTATUS=hello");
  EXPECT_EQ(m.pid, ::getpid());
}

TEST(SdNotify, SendsToAbstractSocket) {
  NotifySocket sock(uniqueAbstractName());
  auto r = core::sdNotifyTo(sock.name().c_str(), "STOPPING=1");
  ASSERT_TRUE(r.ok()) << r.error().what << ": " << std::strerror(r.error().code);
  auto m = sock.receive(Ms(5000));
  ASSERT_TRUE(m.got);
  EXPECT_EQ(m.text, "STOPPING=1");
}

TEST(SdNotify, ReadsEnvironment) {
  TempDir dir;
  NotifySocket sock(dir.path() + "/notify");
  ASSERT_EQ(::setenv("NOTIFY_SOCKET", sock.name().c_str(), 1), 0);
  auto r = core::sdNotify("READY=1");
  ::unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value());
  EXPECT_EQ(sock.receive(Ms(5000)).text, "READY=1");
}

TEST(SdNotify, ReportsErrors) {
  auto vsock = core::sdNotifyTo("vsock:2:1234", "READY=1");
  ASSERT_FALSE(vsock.ok());
  EXPECT_EQ(vsock.error().code, EAFNOSUPPORT);

  const std::string tooLong = "/" + std::string(sizeof(sockaddr_un::sun_path), 'x');
  auto longName = core::sdNotifyTo(tooLong.c_str(), "READY=1");
  ASSERT_FALSE(longName.ok());
  EXPECT_EQ(longName.error().code, ENAMETOOLONG);

  TempDir dir; // nobody listens there
  auto missing = core::sdNotifyTo((dir.path() + "/absent").c_str(), "READY=1");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENOENT);
}

// The real binary under a pretend service manager: the first message is READY=1, sent by the
// main PID once the admin endpoint answers /readyz 200; SIGTERM then brings STOPPING=1 and a
// clean exit. Nothing else is sent.
TEST(SdNotify, RingwayReportsReadyAndStopping) {
  TempDir dir;
  NotifySocket sock(dir.path() + "/notify");
  const std::string cfg = dir.write("ringway.yaml", R"(workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: in
    address: "127.0.0.1:0"
    protocol: tcp
    routes: [ { cluster: up } ]
clusters:
  - name: up
    endpoints: [ { address: "127.0.0.1:9", weight: 1 } ]
)");
  Ringway rw({"-c", cfg}, {"NOTIFY_SOCKET=" + sock.name()});

  auto ready = sock.receive(Ms(30000));
  ASSERT_TRUE(ready.got) << "no READY=1 within 30 s; log:\n" << rw.log();
  EXPECT_EQ(ready.text.rfind("READY=1\n", 0), 0u) << ready.text;
  EXPECT_NE(ready.text.find("STATUS=serving with 2 workers ("), std::string::npos) << ready.text;
  EXPECT_EQ(ready.pid, rw.pid()) << "sent by another process than the main one";

  const std::string log = rw.log();
  const std::string admin = adminAddress(log);
  ASSERT_FALSE(admin.empty()) << log;
  EXPECT_EQ(httpStatus(admin, "/readyz"), 200) << "READY=1 was sent before /readyz said so";
  EXPECT_NE(log.find("listening on 127.0.0.1:"), std::string::npos) << log;

  ASSERT_EQ(::kill(rw.pid(), SIGTERM), 0);
  auto stopping = sock.receive(Ms(10000));
  ASSERT_TRUE(stopping.got) << "no STOPPING=1 after SIGTERM; log:\n" << rw.log();
  EXPECT_EQ(stopping.text, "STOPPING=1");
  EXPECT_EQ(stopping.pid, rw.pid());
  EXPECT_EQ(rw.waitExit(Ms(20000)), 0) << rw.log();
  EXPECT_FALSE(sock.receive(Ms(100)).got) << "unexpected message after STOPPING=1";
}

// Without NOTIFY_SOCKET (started by hand, or in a container) nothing is sent, nothing logged.
TEST(SdNotify, RingwayWithoutNotifySocketIsQuiet) {
  TempDir dir;
  const std::string cfg = dir.write("ringway.yaml", R"(workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - name: in
    address: "127.0.0.1:0"
    protocol: tcp
    routes: [ { cluster: up } ]
clusters:
  - name: up
    endpoints: [ { address: "127.0.0.1:9", weight: 1 } ]
)");
  ::unsetenv("NOTIFY_SOCKET");
  Ringway rw({"-c", cfg}, {});
  const auto end = std::chrono::steady_clock::now() + Ms(30000);
  while (rw.log().find("serving with") == std::string::npos &&
         std::chrono::steady_clock::now() < end)
    ::usleep(10000);
  ASSERT_NE(rw.log().find("serving with"), std::string::npos) << rw.log();
  ASSERT_EQ(::kill(rw.pid(), SIGTERM), 0);
  EXPECT_EQ(rw.waitExit(Ms(20000)), 0) << rw.log();
  EXPECT_EQ(rw.log().find("sd_notify"), std::string::npos) << rw.log();
}
