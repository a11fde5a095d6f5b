#include "src/hashing/bit_hash.h"

#include <string>

#include "gtest/gtest.h"

namespace hashmatch {
namespace {

TEST(BitHashTest, DefaultIsZero) {
  Hash256 h;
  EXPECT_TRUE(h.IsZero());
  EXPECT_EQ(h.ToHex(), std::string(64, '0'));
}

TEST(BitHashTest, HexRoundTrip) {
  const std::string hex =
      "0123456789abcdef fedcba9876543210 00ff00ff00ff00ff 8000000000000001";
  std::string compact;
  for (char c : hex) {
    if (c != ' ') compact += c;
  }
  auto h = Hash256::FromHex(compact);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->ToHex(), compact);
  EXPECT_EQ(h->bytes()[0], 0x01);
  EXPECT_EQ(h->bytes()[31], 0x01);
  EXPECT_EQ(h->PopCount(), 32 + 32 + 32 + 2);
}

TEST(BitHashTest, UpperCaseHexIsAcceptedAndPrintedLowerCase) {
  auto h = Hash64::FromHex("DEADBEEF0badF00D");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->ToHex(), "deadbeef0badf00d");
}

TEST(BitHashTest, BitZeroIsTheLastHexDigit) {
  Hash256 h;
  h.SetBit(0);
  EXPECT_EQ(h.ToHex(), std::string(62, '0') + "01");
  EXPECT_TRUE(h.GetBit(0));
  EXPECT_FALSE(h.GetBit(1));
  EXPECT_EQ(h.PopCount(), 1);
}

TEST(BitHashTest, TopBitIsTheFirstHexDigit) {
  Hash256 h;
  h.SetBit(255);
  EXPECT_EQ(h.ToHex(), "80" + std::string(62, '0'));
  EXPECT_TRUE(h.GetBit(255));

  Hash64 g;
  g.SetBit(63);
  EXPECT_EQ(g.ToHex(), "8000000000000000");
}

TEST(BitHashTest, BitNumberingFollowsPdqWords) {
  // PDQ bit k = 16 * row + col lives in word k >> 4 at bit k & 15, and the
  // hex prints word 15 first. Bit 17 is word 1, bit 1: "...0002" + "0000".
  Hash256 h;
  h.SetBit(17);
  EXPECT_EQ(h.ToHex(), std::string(56, '0') + "00020000");
  // Bit 12 is the top nibble of word 0.
  Hash256 g;
  g.SetBit(12);
  EXPECT_EQ(g.ToHex(), std::string(60, '0') + "1000");
}

TEST(BitHashTest, FromHexSetsTheSameBitsAsSetBit) {
  auto h = Hash256::FromHex("4" + std::string(63, '0'));
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->GetBit(254));
  EXPECT_EQ(h->PopCount(), 1);
}

TEST(BitHashTest, HammingDistance) {
  Hash256 zero;
  auto ones = Hash256::FromHex(std::string(64, 'f'));
  ASSERT_TRUE(ones.ok());
  EXPECT_EQ(HammingDistance(zero, *ones), 256);
  EXPECT_EQ(HammingDistance(*ones, *ones), 0);

  Hash256 a;
  for (int k : {0, 7, 8, 63, 64, 200, 255}) a.SetBit(k);
  EXPECT_EQ(HammingDistance(zero, a), 7);
  EXPECT_EQ(HammingDistance(a, zero), 7);
  EXPECT_EQ(HammingDistance(*ones, a), 256 - 7);

  Hash256 b = a;
  b.SetBit(100);  // One more bit.
  EXPECT_EQ(HammingDistance(a, b), 1);
  EXPECT_FALSE(a == b);

  Hash64 x, y;
  x.SetBit(5);
  y.SetBit(6);
  EXPECT_EQ(HammingDistance(x, y), 2);
}

TEST(BitHashTest, FromHexWrongLengthIsInvalidArgument) {
  auto h = Hash256::FromHex(std::string(63, '0'));
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(h.status().message().find("needs 64 hex digits, got 63"),
            std::string::npos)
      << h.status();

  auto empty = Hash64::FromHex("");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("needs 16 hex digits, got 0"),
            std::string::npos)
      << empty.status();

  auto too_long = Hash64::FromHex(std::string(18, 'a'));
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BitHashTest, FromHexBadCharacterIsInvalidArgument) {
  std::string hex(64, '0');
  hex[10] = 'g';
  auto h = Hash256::FromHex(hex);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(h.status().message().find("invalid hex character at position 10"),
            std::string::npos)
      << h.status();

  hex[10] = ' ';
  EXPECT_EQ(Hash256::FromHex(hex).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HexBytesTest, RoundTrip) {
  const std::string bytes("\x00\x7f\x80\xff", 4);
  EXPECT_EQ(BytesToHex(bytes), "007f80ff");
  auto back = HexToBytes("007F80ff");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, bytes);
}

TEST(HexBytesTest, OddLengthIsInvalidArgument) {
  auto got = HexToBytes("abc");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(got.status().message().find("odd length 3"), std::string::npos)
      << got.status();
}

}  // namespace
}  // namespace hashmatch
