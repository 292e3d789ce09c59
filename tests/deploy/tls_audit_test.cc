// What an operator's TLS audit sees: testssl.sh (Debian package `testssl.sh`) run against the
// real binary's TLS listener with the default settings (an ECDSA and an RSA certificate, no
// TLS options) must find TLS 1.2 and 1.3 only and forward-secret AEAD suites only: no CBC, no
// SHA-1 MAC, no RSA key exchange (nginx and HAProxy still offer AES128-SHA by default).
// About 40-60 s; skipped (and saying so) when testssl is not installed.
#include <unistd.h>

#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "deploy/deploy_support.h"

using namespace ringway::deploytest;

namespace {

// "127.0.0.1:PORT" of the listener from "listener=NAME ... listening on ADDR", or "".
std::string listenerAddress(const std::string& log, const std::string& name) {
  std::smatch m;
  const std::regex re("listener=" + name + R"( .*listening on (127\.0\.0\.1:[0-9]+))");
  return std::regex_search(log, m, re) ? m[1].str() : "";
}

// testssl's CSV: "id","fqdn/ip","port","severity","finding",... -> id -> finding.
std::map<std::string, std::string> findings(const std::string& csv) {
  std::map<std::string, std::string> out;
  std::istringstream in(csv);
  const std::regex row(R"re(^"([^"]*)","[^"]*","[^"]*","[^"]*","([^"]*)")re");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, row))
      out[m[1].str()] = m[2].str();
  }
  return out;
}

bool startsWith(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

TEST(TlsAudit, TestsslFindsOnlyTls12And13WithForwardSecretAeadSuites) {
  if (!haveCommand("testssl"))
    GTEST_SKIP() << "testssl (Debian package testssl.sh) is not installed: audit not run";
  if (!haveCommand("openssl"))
    GTEST_SKIP() << "openssl CLI missing: cannot make the test certificates";
  TempDir dir;
  for (const auto& [key, cert, algo] :
       {std::tuple{"ec.key", "ec.pem", std::string("-newkey ec -pkeyopt ec_paramgen_curve:P-256")},
        std::tuple{"rsa.key", "rsa.pem", std::string("-newkey rsa:2048")}}) {
    std::vector<std::string> argv{"openssl", "req", "-x509"};
    std::istringstream words(algo);
    for (std::string w; words >> w;)
      argv.push_back(w);
    for (const std::string w : {"-nodes", "-days", "30", "-subj", "/CN=localhost", "-addext",
                                "subjectAltName=DNS:localhost"})
      argv.push_back(w);
    argv.insert(argv.end(), {"-keyout", dir.path() + "/" + key, "-out", dir.path() + "/" + cert});
    const CommandResult r = runCommand(argv, Ms(30000));
    ASSERT_EQ(r.exitCode, 0) << r.output;
  }
  const std::string cfg = dir.write("tls.yaml", R"(workers: 1
admin: off
listeners:
  - name: web_tls
    address: "127.0.0.1:0"
    protocol: http
    tls:
      certificates:
        - { cert: ec.pem, key: ec.key }
        - { cert: rsa.pem, key: rsa.key }
    routes:
      - direct_response: { status: 200, body: "ok\n" }
)");
  Ringway rw({"-c", cfg}, {});
  std::string addr;
  for (int i = 0; i < 100 && addr.empty(); ++i) {
    std::this_thread::sleep_for(Ms(50));
    addr = listenerAddress(rw.log(), "web_tls");
  }
  ASSERT_FALSE(addr.empty()) << rw.log();

  const std::string csv = dir.path() + "/testssl.csv";
  const CommandResult r = runCommand({"testssl", "--quiet", "--color", "0", "--warnings", "off",
                                      "-p", "-s", "-f", "-E", "--csvfile", csv, addr},
                                     Ms(240000));
  ASSERT_NE(r.exitCode, -1) << "testssl did not finish in 240 s\n" << r.output;
  const auto f = findings(readFile(csv));
  ASSERT_FALSE(f.empty()) << "no CSV from testssl\n" << r.output;

  for (const std::string old : {"SSLv2", "SSLv3", "TLS1", "TLS1_1"})
    EXPECT_EQ(f.count(old) ? f.at(old) : "absent", "not offered") << old;
  for (const std::string v : {"TLS1_2", "TLS1_3"})
    EXPECT_TRUE(f.count(v) && startsWith(f.at(v), "offered"))
        << v << ": " << (f.count(v) ? f.at(v) : "absent");
  for (const std::string weak : {"cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT",
                                 "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"})
    EXPECT_EQ(f.count(weak) ? f.at(weak) : "absent", "not offered") << weak;
  EXPECT_EQ(f.count("PFS") ? f.at("PFS") : "absent", "offered");

  // Every suite offered, per protocol: AEAD (GCM, ChaCha20-Poly1305, CCM), ECDHE key exchange.
  int tls12 = 0;
  int tls13 = 0;
  for (const auto& [id, finding] : f) {
    if (!startsWith(id, "cipher-tls1_"))
      continue;
    if (startsWith(id, "cipher-tls1_2_"))
      ++tls12;
    else if (startsWith(id, "cipher-tls1_3_"))
      ++tls13;
    else
      ADD_FAILURE() << "a suite of an old protocol is offered: " << finding;
    EXPECT_TRUE(std::regex_search(finding, std::regex(R"(\b(AESGCM|ChaCha20|AESCCM)\b)")))
        << "not AEAD: " << finding;
    EXPECT_TRUE(std::regex_search(finding, std::regex(R"(\bECDH\b)")))
        << "no ephemeral (EC)DH key exchange: " << finding;
    EXPECT_EQ(finding.find("SHA "), std::string::npos) << "SHA-1 MAC: " << finding;
  }
  EXPECT_GT(tls12, 0) << "testssl listed no TLS 1.2 suite\n" << r.output;
  EXPECT_GT(tls13, 0) << "testssl listed no TLS 1.3 suite\n" << r.output;
  std::cout << "testssl: " << tls12 << " TLS 1.2 and " << tls13 << " TLS 1.3 suites, all AEAD with "
            << "ECDHE; TLS 1.0/1.1, SSLv2/3 not offered\n";
}

} // namespace
