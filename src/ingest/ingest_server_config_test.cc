#include "src/ingest/ingest_server_config.h"

#include <map>

#include "gtest/gtest.h"

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
        "HASHMATCH_BOOTSTRAP_TOKEN_FILE"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
