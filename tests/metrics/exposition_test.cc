// The generic metrics pieces: hand-built families, histograms from per-bucket counts, the
// text rendering, and the io_uring opcode names.
#include "metrics/exposition.h"

#include <gtest/gtest.h>
#include <linux/io_uring.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <cmath>
#include <set>
#include <string>

#include "metrics/family.h"
#include "metrics/uring_ops.h"

namespace ringway::metrics {
namespace {

class FixedCollectable final : public prometheus::Collectable {
public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    auto c = counterFamily("test_things_total", "Things.");
    addCounter(c, {{"kind", "a"}}, 3);
    addCounter(c, {{"kind", "quote\"and\\slash\nnewline"}}, 4);
    auto g = gaugeFamily("test_level", "A level.");
    addGauge(g, {}, 2.5);
    auto empty = gaugeFamily("test_empty", "Nothing here.");
    auto h = histogramFamily("test_batch", "Batches.");
    const double bounds[] = {1, 2, 4};
    const uint64_t counts[] = {5, 0, 2, 1};
    addHistogram(h, {{"worker", "0"}}, histogramFromBuckets(bounds, counts, 19));
    return {c, g, empty, h};
  }
};

TEST(Histogram, CumulativeBucketsAndInf) {
  const double bounds[] = {1, 2, 4, 8};
  const uint64_t counts[] = {10, 0, 3, 1, 2};
  const auto h = histogramFromBuckets(bounds, counts, 123);
  ASSERT_EQ(h.bucket.size(), 5u);
  EXPECT_EQ(h.bucket[0].cumulative_count, 10u);
  EXPECT_EQ(h.bucket[0].upper_bound, 1);
  EXPECT_EQ(h.bucket[1].cumulative_count, 10u);
  EXPECT_EQ(h.bucket[2].cumulative_count, 13u);
  EXPECT_EQ(h.bucket[3].cumulative_count, 14u);
  EXPECT_EQ(h.bucket[3].upper_bound, 8);
  EXPECT_TRUE(std::isinf(h.bucket[4].upper_bound));
  EXPECT_EQ(h.bucket[4].cumulative_count, 16u);
  EXPECT_EQ(h.sample_count, 16u);
  EXPECT_EQ(h.sample_sum, 123);
}

TEST(Histogram, MissingOverflowCountIsZero) {
  const double bounds[] = {1, 2};
  const uint64_t counts[] = {1, 2};
  const auto h = histogramFromBuckets(bounds, counts, 5);
  ASSERT_EQ(h.bucket.size(), 3u);
  EXPECT_EQ(h.bucket[2].cumulative_count, 3u);
  EXPECT_EQ(h.sample_count, 3u);
}

TEST(Exposition, RendersTextFormat) {
  Exposition e;
  e.add(std::make_shared<FixedCollectable>());
  const std::string t = e.render();
  EXPECT_NE(t.find("# TYPE test_things_total counter\n"), std::string::npos) << t;
  EXPECT_NE(t.find("test_things_total{kind=\"a\"} 3\n"), std::string::npos) << t;
  // Label values are escaped by the serializer.
  EXPECT_NE(t.find(R"(test_things_total{kind="quote\"and\\slash\nnewline"} 4)"), std::string::npos)
      << t;
  EXPECT_NE(t.find("# TYPE test_level gauge\ntest_level 2.5\n"), std::string::npos) << t;
  EXPECT_EQ(t.find("test_empty"), std::string::npos) << "an empty family is not rendered:\n" << t;
  EXPECT_NE(t.find("# TYPE test_batch histogram\n"), std::string::npos) << t;
  EXPECT_NE(t.find("test_batch_count{worker=\"0\"} 8\n"), std::string::npos) << t;
  EXPECT_NE(t.find("test_batch_sum{worker=\"0\"} 19\n"), std::string::npos) << t;
  EXPECT_NE(t.find("test_batch_bucket{worker=\"0\",le=\"1\"} 5\n"), std::string::npos) << t;
  EXPECT_NE(t.find("test_batch_bucket{worker=\"0\",le=\"2\"} 5\n"), std::string::npos) << t;
  EXPECT_NE(t.find("test_batch_bucket{worker=\"0\",le=\"4\"} 7\n"), std::string::npos) << t;
  EXPECT_NE(t.find("test_batch_bucket{worker=\"0\",le=\"+Inf\"} 8\n"), std::string::npos) << t;
}

TEST(Exposition, RegistryFamiliesComeFirstAndCount) {
  Exposition e;
  auto& fam =
      prometheus::BuildCounter().Name("test_requests_total").Help("R.").Register(e.registry());
  fam.Add({{"code", "200"}}).Increment(2);
  e.add(std::make_shared<FixedCollectable>());
  const auto families = e.collect();
  ASSERT_EQ(families.size(), 4u); // registry's, then things, level, batch (empty dropped)
  EXPECT_EQ(families[0].name, "test_requests_total");
  EXPECT_EQ(families[1].name, "test_things_total");
  EXPECT_NE(e.render().find("test_requests_total{code=\"200\"} 2\n"), std::string::npos);
}

TEST(Exposition, LargeCountersStayIntegral) {
  // Counters are doubles in the data model; make sure a big count is not printed in
  // scientific notation that loses digits below 2^53.
  class Big final : public prometheus::Collectable {
  public:
    std::vector<prometheus::MetricFamily> Collect() const override {
      auto c = counterFamily("test_bytes_total", "B.");
      addCounter(c, {}, 123456789012345.0);
      return {c};
    }
  };
  Exposition e;
  e.add(std::make_shared<Big>());
  EXPECT_NE(e.render().find("test_bytes_total 123456789012345\n"), std::string::npos) << e.render();
}

TEST(UringOps, NamesMatchTheKernelNumbers) {
  EXPECT_STREQ(uringOpName(IORING_OP_NOP), "nop");
  EXPECT_STREQ(uringOpName(IORING_OP_READ), "read");
  EXPECT_STREQ(uringOpName(IORING_OP_WRITEV), "writev");
  EXPECT_STREQ(uringOpName(IORING_OP_SENDMSG), "sendmsg");
  EXPECT_STREQ(uringOpName(IORING_OP_SENDMSG_ZC), "sendmsg_zc");
  EXPECT_STREQ(uringOpName(IORING_OP_SEND_ZC), "send_zc");
  EXPECT_STREQ(uringOpName(IORING_OP_RECV), "recv");
  EXPECT_STREQ(uringOpName(IORING_OP_SEND), "send");
  EXPECT_STREQ(uringOpName(IORING_OP_ACCEPT), "accept");
  EXPECT_STREQ(uringOpName(IORING_OP_CONNECT), "connect");
  EXPECT_STREQ(uringOpName(IORING_OP_SHUTDOWN), "shutdown");
  EXPECT_STREQ(uringOpName(IORING_OP_TIMEOUT), "timeout");
  EXPECT_STREQ(uringOpName(IORING_OP_LINK_TIMEOUT), "link_timeout");
  EXPECT_STREQ(uringOpName(IORING_OP_ASYNC_CANCEL), "async_cancel");
  EXPECT_STREQ(uringOpName(IORING_OP_CLOSE), "close");
  EXPECT_STREQ(uringOpName(IORING_OP_POLL_ADD), "poll_add");
  EXPECT_STREQ(uringOpName(IORING_OP_MSG_RING), "msg_ring");
  EXPECT_EQ(uringOpName(IORING_OP_FSYNC), nullptr);
  EXPECT_EQ(uringOpName(IORING_OP_LAST), nullptr);
  EXPECT_EQ(uringOpName(100000), nullptr);
}

TEST(UringOps, NamesAreDistinctLabelValues) {
  std::set<std::string> seen;
  for (unsigned op = 0; op < IORING_OP_LAST; ++op) {
    const char* n = uringOpName(op);
    if (n == nullptr)
      continue;
    EXPECT_TRUE(seen.insert(n).second) << n;
    for (const char* p = n; *p; ++p)
      EXPECT_TRUE((*p >= 'a' && *p <= 'z') || *p == '_') << n;
  }
  EXPECT_EQ(seen.count("other"), 0u) << "'other' is the bucket for unnamed opcodes";
}

} // namespace
} // namespace ringway::metrics
