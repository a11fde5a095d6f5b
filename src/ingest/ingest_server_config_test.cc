#include "src/ingest/ingest_server_config.h"

#include <map>

#include "gtest/gtest.h"
#include "src/ingest/audit_service.h"
#include "src/ingest/ingest_core.h"
#include "src/ingest/ingest_service.h"
#include "src/ingest/replication_service.h"
#include "src/ingest/report_service.h"

namespace hashmatch {
namespace ingest {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(IngestServerConfigTest, DefaultsFlagsAndEnvironment) {
  auto c = ParseIngestServerConfig({"--data=/d"}, FakeEnv({}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data, "/d");
  EXPECT_EQ(c->listen, "127.0.0.1:50061");
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9465");
  EXPECT_EQ(c->quorum, 1);
  EXPECT_EQ(c->max_batch, 1000);
  EXPECT_FALSE(c->allow_platform_suspend);
  EXPECT_EQ(c->max_image_bytes, int64_t{32} << 20);
  EXPECT_EQ(c->drain_seconds, 10);
  EXPECT_TRUE(c->bootstrap_admin.empty());
  EXPECT_EQ(c->audit_verify, "incremental");
  EXPECT_EQ(c->stream_idle_timeout_seconds, 30);
  c = ParseIngestServerConfig(
      {"--data=/d", "--audit_verify=full", "--stream_idle_timeout_seconds=2"},
      FakeEnv({}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->audit_verify, "full");
  EXPECT_EQ(c->stream_idle_timeout_seconds, 2);

  c = ParseIngestServerConfig(
      {"--quorum", "3", "--bootstrap_admin=root", "--allow_platform_suspend",
       "--max_image_bytes=1000"},
      FakeEnv({{"HASHMATCH_DATA", "/e"},
               {"HASHMATCH_QUORUM", "5"},
               {"HASHMATCH_BOOTSTRAP_TOKEN_FILE", "/e/token"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data, "/e");
  EXPECT_EQ(c->quorum, 3);
  EXPECT_EQ(c->bootstrap_admin, "root");
  EXPECT_EQ(c->bootstrap_token_file, "/e/token");
  EXPECT_TRUE(c->allow_platform_suspend);
  EXPECT_EQ(c->max_image_bytes, 1000);
}

// Each limit flag's default is the default of the service option it sets, so
// a server started without flags behaves as the services document.
TEST(IngestServerConfigTest, LimitDefaultsAreTheServicesOwn) {
  auto c = ParseIngestServerConfig({"--data=/d"}, FakeEnv({}));
  ASSERT_TRUE(c.ok()) << c.status();
  const IngestOptions ingest;
  EXPECT_EQ(c->max_batch, static_cast<int>(ingest.max_batch));
  EXPECT_EQ(c->max_image_bytes,
            static_cast<int64_t>(ingest.image_decode.max_encoded_bytes));
  EXPECT_EQ(c->max_image_pixels, ingest.image_decode.max_pixels);
  EXPECT_EQ(c->max_external_id_bytes,
            static_cast<int>(ingest.max_external_id_bytes));
  EXPECT_EQ(c->max_note_bytes, static_cast<int>(ingest.max_note_bytes));
  EXPECT_EQ(c->max_disputes_per_entry,
            static_cast<int>(ingest.max_disputes_per_entry));
  EXPECT_EQ(c->max_page_size, ingest.max_page_size);
  const IngestServiceOptions service;
  EXPECT_EQ(c->worker_threads, service.worker_threads);
  EXPECT_EQ(c->max_queued_calls, service.max_queued_calls);
  EXPECT_EQ(c->max_submit_streams, service.max_submit_streams);
  EXPECT_EQ(c->max_exports, service.max_exports);
  EXPECT_EQ(c->stream_idle_timeout_seconds * 1000,
            service.stream_idle_timeout_ms);
  EXPECT_EQ(c->stream_idle_timeout_seconds * 1000,
            ReplicationServiceOptions().write_stall_timeout_ms);
  EXPECT_EQ(c->max_watch_streams, ReplicationServiceOptions().max_streams);
  EXPECT_EQ(c->max_audit_streams, AuditServiceOptions().max_streams);
  const ReportServiceOptions reports;
  EXPECT_EQ(c->max_reports_per_call, reports.max_reports_per_call);
  EXPECT_EQ(c->max_report_hashes, reports.max_hashes_per_report);
  EXPECT_EQ(c->max_report_matches, reports.max_matches_per_report);
  EXPECT_EQ(c->max_content_ref_bytes, reports.max_content_ref_bytes);
  EXPECT_EQ(c->max_report_streams, reports.max_streams);
  EXPECT_EQ(c->max_page_size, reports.max_page_size);
  EXPECT_EQ(c->max_video_frames, ingest.max_video_frames);

  c = ParseIngestServerConfig({"--data=/d", "--max_page_size=7",
                               "--max_note_bytes=9", "--max_watch_streams=2"},
                              FakeEnv({{"HASHMATCH_MAX_REPORT_MATCHES", "5"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_page_size, 7);
  EXPECT_EQ(c->max_note_bytes, 9);
  EXPECT_EQ(c->max_watch_streams, 2);
  EXPECT_EQ(c->max_report_matches, 5);
}

TEST(IngestServerConfigTest, Errors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "--data (or HASHMATCH_DATA) is required"},
      {{"--data=/d", "--quorum=0"}, "--quorum: 0 is outside [1, 100]"},
      {{"--data=/d", "--max_batch=3001"}, "--max_batch: 3001 is outside"},
      {{"--data=/d", "--tls_cert=c"}, "--tls_cert and --tls_key"},
      {{"--data=/d", "--tls_client_ca=ca"}, "needs --tls_cert"},
      {{"--data=/d", "--bootstrap_admin=root"},
       "--bootstrap_admin and --bootstrap_token_file"},
      {{"--data=/d", "--bootstrap_admin=a b", "--bootstrap_token_file=/t"},
       "--bootstrap_admin: principal name"},
      {{"--data=/d", "--listen="}, "--listen must not be empty"},
      {{"--data=/d", "--max_page_size=0"}, "--max_page_size: 0 is outside"},
      {{"--data=/d", "--worker_threads=x"}, "--worker_threads"},
      {{"--data=/d", "--audit_verify=quick"},
       "--audit_verify must be full or incremental, got \"quick\""},
      {{"--data=/d", "--stream_idle_timeout_seconds=0"},
       "--stream_idle_timeout_seconds: 0 is outside"},
  };
  for (const auto& [args, message] : cases) {
    auto c = ParseIngestServerConfig(args, FakeEnv({}));
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << message;
    EXPECT_NE(c.status().message().find(message), std::string::npos)
        << c.status();
  }
}

TEST(IngestServerConfigTest, HelpListsEveryFlagWithItsVariable) {
  auto c = ParseIngestServerConfig({"--help"}, FakeEnv({}));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->help);
  const std::string help = IngestServerHelpText();
  for (const char* flag :
       {"--data VALUE", "--listen", "--port_file", "--metrics_listen",
        "--quorum N", "--max_batch N", "--tls_cert", "--tls_client_ca",
        "--bootstrap_admin", "--bootstrap_token_file", "--drain_seconds N",
        "--audit_verify VALUE", "--stream_idle_timeout_seconds N",
        "HASHMATCH_AUDIT_VERIFY", "HASHMATCH_BOOTSTRAP_TOKEN_FILE"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
