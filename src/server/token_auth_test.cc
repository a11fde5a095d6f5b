#include "src/server/token_auth.h"

#include "gtest/gtest.h"
#include "src/hashing/crypto_hash.h"

namespace hashmatch {
namespace server {
namespace {

std::string Line(const std::string& platform, const std::string& token) {
  return platform + " " + Sha256Hex(token) + "\n";
}

TEST(TokenTableTest, AuthenticatesKnownTokensAndNamesThePlatform) {
  const std::string text = "# platforms\n\n" + Line("alpha", "tok-a") +
                           "  beta\t" + Sha256Hex("tok-b") + "  \n";
  absl::StatusOr<TokenTable> table = TokenTable::Parse(text);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 2u);
  absl::StatusOr<std::string> p = table->Authenticate("Bearer tok-a");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, "alpha");
  p = table->Authenticate("bearer tok-b");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, "beta");
}

TEST(TokenTableTest, UppercaseDigestIsAccepted) {
  std::string hex = Sha256Hex("tok");
  for (char& c : hex) c = static_cast<char>(toupper(c));
  absl::StatusOr<TokenTable> table = TokenTable::Parse("p " + hex);
  ASSERT_TRUE(table.ok()) << table.status();
  absl::StatusOr<std::string> p = table->Authenticate("Bearer tok");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "p");
}

TEST(TokenTableTest, RejectsMissingMalformedAndUnknownTokens) {
  absl::StatusOr<TokenTable> table = TokenTable::Parse(Line("alpha", "tok-a"));
  ASSERT_TRUE(table.ok());
  struct Case {
    std::string header;
    std::string message_part;
  };
  for (const Case& c : std::vector<Case>{
           {"", "missing API token"},
           {"Basic dG9rLWE=", "malformed"},
           {"Bearer", "malformed"},
           {"tok-a", "malformed"},
           {"Bearer tok-b", "unknown API token"},
           {"Bearer tok-a2", "unknown API token"},
           {"Bearer TOK-A", "unknown API token"},
       }) {
    absl::StatusOr<std::string> p = table->Authenticate(c.header);
    ASSERT_FALSE(p.ok()) << c.header;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_NE(p.status().message().find(c.message_part),
              absl::string_view::npos)
        << p.status();
  }
}

TEST(TokenTableTest, ParseErrorsNameTheLine) {
  struct Case {
    std::string text;
    std::string message_part;
  };
  for (const Case& c : std::vector<Case>{
           {"", "no entries"},
           {"# only a comment\n", "no entries"},
           {"alpha\n", "line 1: expected"},
           {"# c\nalpha abc\n", "line 2: the digest must be 64 hex digits"},
           {"alpha " + std::string(64, 'g') + "\n", "64 hex digits"},
           {"a b c\n", "line 1: expected"},
           {Line("alpha", "x") + Line("alpha", "y"), "line 2: platform"},
           {Line("alpha", "x") + Line("beta", "x"), "listed twice"},
       }) {
    absl::StatusOr<TokenTable> t = TokenTable::Parse(c.text);
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(c.message_part),
              absl::string_view::npos)
        << t.status() << " wanted " << c.message_part;
  }
}

TEST(TokenTableTest, LoadFileNamesTheFlagAndPath) {
  absl::StatusOr<TokenTable> t =
      TokenTable::LoadFile("/nonexistent/hashmatch/tokens");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("--tokens_file /nonexistent/hashmatch"),
            absl::string_view::npos)
      << t.status();
}

TEST(FindDigestConstantTimeTest, FindsTheEqualDigestOnly) {
  std::string packed;
  for (int i = 0; i < 5; ++i) packed += TokenDigest(std::to_string(i));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(FindDigestConstantTime(packed, TokenDigest(std::to_string(i))),
              std::optional<size_t>(i));
  }
  EXPECT_FALSE(FindDigestConstantTime(packed, TokenDigest("5")).has_value());
  EXPECT_FALSE(FindDigestConstantTime("", TokenDigest("0")).has_value());
  EXPECT_FALSE(FindDigestConstantTime(packed, "short").has_value());
  // One bit off in each byte is not equal.
  const std::string three = TokenDigest("3");
  for (size_t byte = 0; byte < three.size(); ++byte) {
    std::string off = three;
    off[byte] ^= 0x80;
    EXPECT_FALSE(FindDigestConstantTime(packed, off).has_value()) << byte;
  }
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
