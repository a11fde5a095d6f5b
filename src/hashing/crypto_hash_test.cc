#include "src/hashing/crypto_hash.h"

#include <string>

#include "gtest/gtest.h"
#include "src/hashing/bit_hash.h"

namespace hashmatch {
namespace {

// Test vectors from RFC 1321 (MD5) and FIPS 180-2 / NIST (SHA-256).
TEST(CryptoHashTest, Md5Vectors) {
  EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Md5Hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Md5Hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
}

TEST(CryptoHashTest, Sha256Vectors) {
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(
      Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(CryptoHashTest, RawDigestsMatchHex) {
  EXPECT_EQ(Md5("abc").size(), 16u);
  EXPECT_EQ(Sha256("abc").size(), 32u);
  EXPECT_EQ(BytesToHex(Md5("abc")), Md5Hex("abc"));
  EXPECT_EQ(BytesToHex(Sha256("abc")), Sha256Hex("abc"));
}

TEST(CryptoHashTest, EmbeddedNulBytesAreHashed) {
  // The whole string_view is hashed, not a C string up to the first NUL.
  const std::string nul("\0", 1);
  EXPECT_NE(Md5Hex(nul), Md5Hex(""));
  EXPECT_EQ(Md5Hex(nul), "93b885adfe0da089cdf634904fd59f71");
  EXPECT_NE(Sha256Hex(std::string("a\0b", 3)), Sha256Hex("a"));
}

}  // namespace
}  // namespace hashmatch
