#include "src/server/server_config.h"

#include <map>

#include "gtest/gtest.h"

namespace hashmatch {
namespace server {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

absl::StatusOr<ServerConfig> Parse(
    std::vector<std::string> args,
    std::map<std::string, std::string> env = {}) {
  return ParseServerConfig(args, FakeEnv(std::move(env)));
}

TEST(ServerConfigTest, DefaultsMatchTheAgreedCommandLine) {
  absl::StatusOr<ServerConfig> c = Parse({"--db=/tmp/x"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->db, "/tmp/x");
  EXPECT_FALSE(c->seed_demo);
  EXPECT_EQ(c->listen, "127.0.0.1:50051");
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(c->max_concurrent_rpcs, 64);
  EXPECT_EQ(c->max_request_bytes, 64 << 20);
  EXPECT_EQ(c->max_image_bytes, 32 << 20);
  EXPECT_EQ(c->max_pixels, 67108864);
  EXPECT_EQ(c->max_batch, 16);
  EXPECT_EQ(c->max_hashes, 16);
  EXPECT_EQ(c->pdq_threshold, 31);
  EXPECT_EQ(c->pdq_quality_gate, 50);
  EXPECT_TRUE(c->dihedral);
  EXPECT_EQ(c->catch_up_interval_ms, 200);
  EXPECT_EQ(c->drain_seconds, 10);
  EXPECT_EQ(c->video_idle_timeout_seconds, 20);
  EXPECT_EQ(c->video_upload_timeout_seconds, 300);
  EXPECT_TRUE(c->tokens_file.empty());
  EXPECT_FALSE(c->help);
}

TEST(ServerConfigTest, ValueFormsAndBooleans) {
  absl::StatusOr<ServerConfig> c =
      Parse({"--db", "/d", "--listen=0.0.0.0:0", "--max_batch", "3",
             "--seed_demo", "--nodihedral", "--port_file=/p"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->db, "/d");
  EXPECT_EQ(c->listen, "0.0.0.0:0");
  EXPECT_EQ(c->max_batch, 3);
  EXPECT_TRUE(c->seed_demo);
  EXPECT_FALSE(c->dihedral);
  EXPECT_EQ(c->port_file, "/p");

  c = Parse({"--db=/d", "--video_idle_timeout_seconds=1",
             "--video_upload_timeout_seconds", "60"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->video_idle_timeout_seconds, 1);
  EXPECT_EQ(c->video_upload_timeout_seconds, 60);
  // No way to turn the limits off: 0 is out of range.
  c = Parse({"--db=/d", "--video_idle_timeout_seconds=0"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("video_idle_timeout_seconds"),
            std::string::npos)
      << c.status();

  c = Parse({"--db=/d", "--dihedral=false", "--seed-demo=yes"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->dihedral);
  EXPECT_TRUE(c->seed_demo);
}

TEST(ServerConfigTest, EnvironmentFallbackAndFlagWins) {
  absl::StatusOr<ServerConfig> c =
      Parse({"--max_batch=5"}, {{"HASHMATCH_DB", "/envdb"},
                                {"HASHMATCH_MAX_BATCH", "9"},
                                {"HASHMATCH_PDQ_THRESHOLD", "20"},
                                {"HASHMATCH_DIHEDRAL", "0"},
                                {"HASHMATCH_METRICS_LISTEN", ""}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->db, "/envdb");
  EXPECT_EQ(c->max_batch, 5);  // The flag wins over HASHMATCH_MAX_BATCH.
  EXPECT_EQ(c->pdq_threshold, 20);
  EXPECT_FALSE(c->dihedral);
  EXPECT_EQ(c->metrics_listen, "");  // Set but empty: metrics disabled.
}

TEST(ServerConfigTest, BadEnvironmentValueNamesTheVariable) {
  absl::StatusOr<ServerConfig> c =
      Parse({"--db=/d"}, {{"HASHMATCH_MAX_CONCURRENT_RPCS", "lots"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("HASHMATCH_MAX_CONCURRENT_RPCS"),
            absl::string_view::npos)
      << c.status();
}

TEST(ServerConfigTest, Errors) {
  struct Case {
    std::vector<std::string> args;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {{}, "--db"},
      {{"--db=/d", "--bogus=1"}, "unknown flag --bogus"},
      {{"--db=/d", "stray"}, "unexpected argument"},
      {{"--db=/d", "--max_batch=0"}, "outside [1, 1024]"},
      {{"--db=/d", "--max_batch=x"}, "expected an integer"},
      {{"--db=/d", "--pdq_quality_gate=101"}, "outside [0, 100]"},
      {{"--db=/d", "--max_batch"}, "needs a value"},
      {{"--db=/d", "--db=/e"}, "given twice"},
      {{"--db=/d", "--dihedral=maybe"}, "expected true or false"},
      {{"--db=/d", "--tls_cert=/c"}, "together"},
      {{"--db=/d", "--tls_key=/k"}, "together"},
      {{"--db=/d", "--tls_client_ca=/ca"}, "needs --tls_cert"},
      {{"--db=/d", "--nolisten"}, "unknown flag"},
      {{"--db=/d", "--follow=h:1", "--seed_demo"}, "--seed_demo cannot"},
      {{"--db=/d", "--follow_token_file=/t"}, "need --follow"},
      {{"--db=/d", "--follow=h:1", "--follow_tls_cert=/c"}, "together"},
      {{"--db=/d", "--follow=h:1", "--follow_tls_cert=/c",
        "--follow_tls_key=/k"},
       "needs --follow_tls_ca"},
      {{"--db=/d", "--follow=h:1", "--follow_max_lag_seconds=-1"},
       "outside [0, 86400]"},
      {{"--db=/d", "--report_to=h:1"}, "needs --report_queue"},
      {{"--db=/d", "--report_queue=/q"}, "need --report_to"},
      {{"--db=/d", "--report_to=h:1", "--report_queue=/q",
        "--report_tls_cert=/c"},
       "together"},
      {{"--db=/d", "--report_to=h:1", "--report_queue=/q",
        "--report_tls_cert=/c", "--report_tls_key=/k"},
       "needs --report_tls_ca"},
      {{"--db=/d", "--report_to=h:1", "--report_queue=/q",
        "--report_queue_max=0"},
       "outside"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ServerConfig> r = Parse(c.args);
    ASSERT_FALSE(r.ok()) << c.message_part;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.message_part),
              absl::string_view::npos)
        << r.status() << " wanted " << c.message_part;
  }
}

TEST(ServerConfigTest, HelpNeedsNoDbAndListsEveryFlag) {
  absl::StatusOr<ServerConfig> c = Parse({"--help"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->help);
  const std::string help = ServerHelpText();
  for (const char* flag : {"--db",
                           "--seed_demo",
                           "--listen",
                           "--port_file",
                           "--metrics_listen",
                           "--metrics_port_file",
                           "--max_concurrent_rpcs",
                           "--max_request_bytes",
                           "--max_image_bytes",
                           "--max_pixels",
                           "--max_batch",
                           "--max_hashes",
                           "--pdq_threshold",
                           "--pdq_quality_gate",
                           "--dihedral",
                           "--tokens_file",
                           "--follow",
                           "--follow_token_file",
                           "--follow_tls_ca",
                           "--follow_tls_cert",
                           "--follow_tls_key",
                           "--follow_tls_server_name",
                           "--follow_name",
                           "--follow_max_lag_seconds",
                           "--report_to",
                           "--report_queue",
                           "--report_queue_max",
                           "--report_batch",
                           "--report_token_file",
                           "--report_tls_ca",
                           "--tls_cert",
                           "--tls_key",
                           "--tls_client_ca",
                           "--catch_up_interval_ms",
                           "--drain_seconds",
                           "--video_idle_timeout_seconds",
                           "--video_upload_timeout_seconds",
                           "HASHMATCH_MAX_BATCH"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
