#include "index/store/store_keys.h"

#include <string>

#include "gtest/gtest.h"

namespace hashmatch {
namespace store_keys {
namespace {

TEST(StoreKeysTest, IdRoundTripsAndSortsNumerically) {
  EXPECT_EQ(DecodeId(EncodeId(0x0102030405060708ull)), 0x0102030405060708ull);
  EXPECT_EQ(EncodeId(1), std::string("\0\0\0\0\0\0\0\1", 8));
  EXPECT_LT(EncodeId(255), EncodeId(256));
  EXPECT_FALSE(DecodeId("short").has_value());
}

TEST(StoreKeysTest, HashKeyIsPrefixThenId) {
  std::string key = HashKey(1, "ab", 7);
  EXPECT_EQ(key.size(), 1u + 2u + 8u);
  EXPECT_EQ(key.substr(0, 3), HashPrefix(1, "ab"));
  EXPECT_EQ(key.substr(0, 1), SignalPrefix(1));
  EXPECT_EQ(DecodeId(key.substr(3)), 7u);
}

TEST(StoreKeysTest, ExternalKeyIsUnambiguous) {
  EXPECT_NE(ExternalKey("ab", "c"), ExternalKey("a", "bc"));
}

}  // namespace
}  // namespace store_keys
}  // namespace hashmatch
