#include "src/common/flag_set.h"

#include <map>

#include "gtest/gtest.h"

namespace hashmatch {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

struct Config {
  std::string data;
  std::string listen = "127.0.0.1:1";
  int quorum = 1;
  int64_t bytes = 1024;
  bool tls = false;
};

FlagSet Bind(Config* c) {
  FlagSet f("TEST_");
  f.String("data", &c->data, "data dir", "(required)");
  f.String("listen", &c->listen, "address");
  f.Int("quorum", &c->quorum, 1, 16, "agencies");
  f.Int("bytes", &c->bytes, 1, int64_t{1} << 40, "limit");
  f.Bool("tls", &c->tls, "tls");
  return f;
}

TEST(FlagSetTest, FlagsThenEnvironmentAndTheFlagWins) {
  Config c;
  FlagSet f = Bind(&c);
  ASSERT_TRUE(f.Parse({"--data=/d", "--quorum", "3", "--tls"},
                      FakeEnv({{"TEST_QUORUM", "9"},
                               {"TEST_BYTES", "4096"},
                               {"TEST_LISTEN", ""}}))
                  .ok());
  EXPECT_EQ(c.data, "/d");
  EXPECT_EQ(c.quorum, 3);
  EXPECT_EQ(c.bytes, 4096);
  EXPECT_EQ(c.listen, "");  // Set but empty counts.
  EXPECT_TRUE(c.tls);
  EXPECT_TRUE(f.WasSet("bytes"));
  EXPECT_TRUE(f.WasSet("data"));
  EXPECT_FALSE(f.help_requested());
}

TEST(FlagSetTest, ErrorsNameTheFlagOrVariable) {
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--nope"}, {}, "unknown flag --nope"},
      {{"--quorum"}, {}, "flag --quorum needs a value"},
      {{"--quorum=1", "--quorum=2"}, {}, "flag --quorum given twice"},
      {{"--quorum=17"}, {}, "--quorum: 17 is outside [1, 16]"},
      {{"--quorum=x"}, {}, "--quorum: expected an integer"},
      {{"--tls=maybe"}, {}, "--tls: expected true or false"},
      {{"stray"}, {}, "unexpected argument \"stray\""},
      {{}, {{"TEST_QUORUM", "0"}}, "TEST_QUORUM: 0 is outside [1, 16]"},
  };
  for (const Case& c : cases) {
    Config config;
    FlagSet f = Bind(&config);
    absl::Status s = f.Parse(c.args, FakeEnv(c.env));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_NE(s.message().find(c.message), absl::string_view::npos)
        << s.message();
  }
}

TEST(FlagSetTest, NegatedBooleansDashesAndHelp) {
  Config c;
  c.tls = true;
  FlagSet f = Bind(&c);
  ASSERT_TRUE(f.Parse({"--notls", "--listen", "x:1"}, FakeEnv({})).ok());
  EXPECT_FALSE(c.tls);
  EXPECT_EQ(c.listen, "x:1");

  Config h;
  FlagSet g = Bind(&h);
  ASSERT_TRUE(g.Parse({"--quorum=2", "--help", "--nope"}, FakeEnv({})).ok());
  EXPECT_TRUE(g.help_requested());
  const std::string help = g.HelpText();
  EXPECT_NE(help.find("--data VALUE\n      data dir\n      default: "
                      "(required); env: TEST_DATA"),
            std::string::npos)
      << help;
  EXPECT_NE(help.find("--bytes N"), std::string::npos);
  EXPECT_NE(help.find("default: 1024; env: TEST_BYTES"), std::string::npos);
  EXPECT_NE(help.find("--tls\n"), std::string::npos);
}

}  // namespace
}  // namespace hashmatch
