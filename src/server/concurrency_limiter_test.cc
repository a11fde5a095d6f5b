#include "src/server/concurrency_limiter.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace hashmatch {
namespace server {
namespace {

TEST(ConcurrencyLimiterTest, RefusesPastTheLimitAndReleasesOnDestruction) {
  ConcurrencyLimiter limiter(2);
  ConcurrencyLimiter::Permit a = limiter.TryAcquire();
  ConcurrencyLimiter::Permit b = limiter.TryAcquire();
  EXPECT_TRUE(a);
  EXPECT_TRUE(b);
  EXPECT_EQ(limiter.in_flight(), 2);
  ConcurrencyLimiter::Permit c = limiter.TryAcquire();
  EXPECT_FALSE(c);
  EXPECT_EQ(limiter.in_flight(), 2);
  a.Release();
  EXPECT_EQ(limiter.in_flight(), 1);
  {
    ConcurrencyLimiter::Permit d = limiter.TryAcquire();
    EXPECT_TRUE(d);
    EXPECT_EQ(limiter.in_flight(), 2);
  }
  EXPECT_EQ(limiter.in_flight(), 1);
}

TEST(ConcurrencyLimiterTest, MovedPermitReleasesOnce) {
  ConcurrencyLimiter limiter(1);
  ConcurrencyLimiter::Permit a = limiter.TryAcquire();
  ASSERT_TRUE(a);
  ConcurrencyLimiter::Permit b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty.
  EXPECT_TRUE(b);
  EXPECT_EQ(limiter.in_flight(), 1);
  ConcurrencyLimiter::Permit c;
  c = std::move(b);
  EXPECT_EQ(limiter.in_flight(), 1);
  c.Release();
  c.Release();
  EXPECT_EQ(limiter.in_flight(), 0);
}

TEST(ConcurrencyLimiterTest, ConcurrentAcquirersNeverExceedTheLimit) {
  constexpr int kLimit = 3;
  ConcurrencyLimiter limiter(kLimit);
  std::atomic<int> holders{0};
  std::atomic<int> max_seen{0};
  std::atomic<int> granted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        ConcurrencyLimiter::Permit p = limiter.TryAcquire();
        if (!p) {
          refused.fetch_add(1);
          continue;
        }
        granted.fetch_add(1);
        const int now = holders.fetch_add(1) + 1;
        int seen = max_seen.load();
        while (now > seen && !max_seen.compare_exchange_weak(seen, now)) {
        }
        holders.fetch_sub(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(max_seen.load(), kLimit);
  EXPECT_GE(max_seen.load(), 1);
  EXPECT_EQ(granted.load() + refused.load(), 8 * 2000);
  EXPECT_EQ(limiter.in_flight(), 0);
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
