#include "src/server/principal_limiter.h"

#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace hashmatch {
namespace server {
namespace {

TEST(PrincipalLimiterTest, CallsArePerPrincipal) {
  PrincipalLimiter limiter({.max_calls = 2, .max_bytes = 0});
  std::vector<PrincipalLimiter::Permit> held;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<PrincipalLimiter::Permit> p = limiter.TryAcquire("a", 10);
    ASSERT_TRUE(p.ok()) << p.status();
    held.push_back(*std::move(p));
  }
  absl::StatusOr<PrincipalLimiter::Permit> third = limiter.TryAcquire("a", 10);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(third.status().message(),
            "principal a has 2 calls in flight, its limit");
  // Another principal is not affected.
  EXPECT_TRUE(limiter.TryAcquire("b", 10).ok());
  EXPECT_EQ(limiter.calls("a"), 2);
  EXPECT_EQ(limiter.bytes("a"), 20);
  held.pop_back();
  EXPECT_EQ(limiter.calls("a"), 1);
  EXPECT_TRUE(limiter.TryAcquire("a", 10).ok());
  held.clear();
  EXPECT_EQ(limiter.principals(), 0u);
}

TEST(PrincipalLimiterTest, BytesInFlightAreBounded) {
  PrincipalLimiter limiter({.max_calls = 0, .max_bytes = 100});
  // Alone, a call over the byte limit is admitted (per-request limits bound
  // it); a second one is not.
  absl::StatusOr<PrincipalLimiter::Permit> big = limiter.TryAcquire("a", 150);
  ASSERT_TRUE(big.ok());
  absl::StatusOr<PrincipalLimiter::Permit> more = limiter.TryAcquire("a", 1);
  EXPECT_EQ(more.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(more.status().message(),
            "principal a would hold 151 request bytes in flight, over its "
            "limit of 100");
  big->Release();
  absl::StatusOr<PrincipalLimiter::Permit> p = limiter.TryAcquire("a", 60);
  ASSERT_TRUE(p.ok());
  absl::StatusOr<PrincipalLimiter::Permit> q = limiter.TryAcquire("a", 30);
  ASSERT_TRUE(q.ok());
  // A growing upload is held to the same limit.
  EXPECT_TRUE(q->AddBytes(10).ok());
  EXPECT_EQ(q->AddBytes(1).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(limiter.bytes("a"), 100);
  PrincipalLimiter::Permit moved = *std::move(q);
  EXPECT_EQ(limiter.bytes("a"), 100);
  moved.Release();
  EXPECT_EQ(limiter.bytes("a"), 60);
  EXPECT_EQ(limiter.calls("a"), 1);
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
