#include "src/server/server_metrics.h"

#include "gtest/gtest.h"

namespace hashmatch {
namespace server {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ServerMetricsTest, RecordsEveryFamilyWithItsLabels) {
  absl::StatusOr<std::unique_ptr<ServerMetrics>> m = ServerMetrics::Create("");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->port(), 0);
  (*m)->ObserveRpc("MatchImage", "OK", 0.003);
  (*m)->ObserveRpc("MatchImage", "OK", 0.004);
  (*m)->CountVerdict("MATCH", "PDQ_THRESHOLD");
  (*m)->SetIndexEntries("PDQ", 42);
  (*m)->SetIndexSequence(7);
  (*m)->CountDecodeFailure("corrupt");
  (*m)->AddInflight(2);
  (*m)->AddInflight(-1);
  (*m)->CountRejected("capacity");
  (*m)->CountStreamTimeout("MatchVideo", "idle");
  (*m)->CountStreamTimeout("MatchVideo", "idle");
  (*m)->SetReady(true);
  const std::string text = (*m)->Serialize();
  EXPECT_TRUE(Contains(
      text, "hashmatch_rpc_requests_total{code=\"OK\",rpc=\"MatchImage\"} 2"))
      << text;
  EXPECT_TRUE(Contains(text,
                       "hashmatch_rpc_latency_seconds_bucket{code=\"OK\","
                       "rpc=\"MatchImage\",le=\"0.005\"} 2"))
      << text;
  EXPECT_TRUE(Contains(text,
                       "hashmatch_rpc_latency_seconds_bucket{code=\"OK\","
                       "rpc=\"MatchImage\",le=\"0.0025\"} 0"))
      << text;
  EXPECT_TRUE(Contains(
      text,
      "hashmatch_verdicts_total{rule=\"PDQ_THRESHOLD\",verdict=\"MATCH\"} 1"));
  EXPECT_TRUE(Contains(text, "hashmatch_index_entries{signal=\"PDQ\"} 42"));
  EXPECT_TRUE(Contains(text, "hashmatch_index_sequence 7"));
  EXPECT_TRUE(
      Contains(text, "hashmatch_decode_failures_total{reason=\"corrupt\"} 1"));
  EXPECT_TRUE(Contains(text, "hashmatch_inflight_rpcs 1"));
  EXPECT_TRUE(
      Contains(text, "hashmatch_rejected_total{reason=\"capacity\"} 1"));
  EXPECT_TRUE(Contains(text, "hashmatch_ready 1"));
  EXPECT_TRUE(Contains(text,
                       "hashmatch_stream_timeouts_total{limit=\"idle\","
                       "rpc=\"MatchVideo\"} 2"))
      << text;
}

TEST(ServerMetricsTest, PortZeroBindsAndATakenPortIsAClearError) {
  absl::StatusOr<std::unique_ptr<ServerMetrics>> a =
      ServerMetrics::Create("127.0.0.1:0");
  ASSERT_TRUE(a.ok()) << a.status();
  const int port = (*a)->port();
  EXPECT_GT(port, 0);
  absl::StatusOr<std::unique_ptr<ServerMetrics>> b =
      ServerMetrics::Create("127.0.0.1:" + std::to_string(port));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(b.status().message().find("--metrics_listen"),
            absl::string_view::npos)
      << b.status();
}

TEST(ServerMetricsTest, AddressWithoutPortIsInvalid) {
  absl::StatusOr<std::unique_ptr<ServerMetrics>> m =
      ServerMetrics::Create("localhost");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
