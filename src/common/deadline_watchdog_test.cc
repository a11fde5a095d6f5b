#include "src/common/deadline_watchdog.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace hashmatch {
namespace {

using Clock = DeadlineWatchdog::Clock;
using std::chrono::milliseconds;

// Waits (bounded) until `done` is true under `mu`.
bool WaitFor(std::mutex& mu, std::condition_variable& cv, const bool& done,
             milliseconds limit = milliseconds(10000)) {
  std::unique_lock<std::mutex> lock(mu);
  return cv.wait_for(lock, limit, [&] { return done; });
}

TEST(DeadlineWatchdogTest, RunsOnceAfterTheDeadlineOnItsOwnThread) {
  DeadlineWatchdog watchdog;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int runs = 0;
  std::thread::id ran_on;
  Clock::time_point ran_at;
  const Clock::time_point deadline = Clock::now() + milliseconds(50);
  watchdog.Add(deadline, [&] {
    std::lock_guard<std::mutex> lock(mu);
    ++runs;
    ran_on = std::this_thread::get_id();
    ran_at = Clock::now();
    done = true;
    cv.notify_all();
  });
  ASSERT_TRUE(WaitFor(mu, cv, done));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(runs, 1);
  EXPECT_GE(ran_at, deadline);
  EXPECT_NE(ran_on, std::this_thread::get_id());
  EXPECT_EQ(watchdog.size(), 0u);
}

TEST(DeadlineWatchdogTest, RunsInDeadlineOrderAndAtOnceWhenPast) {
  DeadlineWatchdog watchdog;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> order;
  bool done = false;
  const Clock::time_point now = Clock::now();
  auto record = [&](int n) {
    return [&, n] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(n);
      done = order.size() == 3;
      cv.notify_all();
    };
  };
  // Added latest first: the later one must not delay the earlier ones.
  watchdog.Add(now + milliseconds(300), record(3));
  watchdog.Add(now + milliseconds(100), record(2));
  watchdog.Add(now - milliseconds(1), record(1));
  ASSERT_TRUE(WaitFor(mu, cv, done));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(DeadlineWatchdogTest, ResetPostponesAndRemoveCancels) {
  DeadlineWatchdog watchdog;
  std::atomic<int> removed_runs{0};
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Clock::time_point ran_at;
  const Clock::time_point start = Clock::now();
  const DeadlineWatchdog::Id gone = watchdog.Add(
      start + milliseconds(50), [&] { removed_runs.fetch_add(1); });
  const DeadlineWatchdog::Id later =
      watchdog.Add(start + milliseconds(50), [&] {
        std::lock_guard<std::mutex> lock(mu);
        ran_at = Clock::now();
        done = true;
        cv.notify_all();
      });
  EXPECT_NE(gone, later);
  watchdog.Remove(gone);
  ASSERT_TRUE(watchdog.Reset(later, start + milliseconds(400)));
  ASSERT_TRUE(WaitFor(mu, cv, done));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_GE(ran_at, start + milliseconds(400));
  }
  EXPECT_EQ(removed_runs.load(), 0);
  // Expired and removed entries cannot be reset.
  EXPECT_FALSE(watchdog.Reset(later, Clock::now()));
  EXPECT_FALSE(watchdog.Reset(gone, Clock::now()));
  watchdog.Remove(gone);  // Unknown: no effect.
  watchdog.Remove(0);     // Never an id: no effect, no wait.
}

TEST(DeadlineWatchdogTest, ResetToAnEarlierDeadlineWakesTheThread) {
  DeadlineWatchdog watchdog;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  const DeadlineWatchdog::Id id =
      watchdog.Add(Clock::now() + std::chrono::hours(1), [&] {
        std::lock_guard<std::mutex> lock(mu);
        done = true;
        cv.notify_all();
      });
  ASSERT_TRUE(watchdog.Reset(id, Clock::now() + milliseconds(20)));
  EXPECT_TRUE(WaitFor(mu, cv, done));
}

// Remove from another thread waits for a running callback; so the object
// the callback uses may be destroyed right after Remove returns.
TEST(DeadlineWatchdogTest, RemoveWaitsForARunningCallback) {
  DeadlineWatchdog watchdog;
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  std::atomic<bool> release{false};
  std::atomic<bool> finished{false};
  const DeadlineWatchdog::Id id = watchdog.Add(Clock::now(), [&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      started = true;
      cv.notify_all();
    }
    while (!release.load()) std::this_thread::yield();
    finished.store(true);
  });
  ASSERT_TRUE(WaitFor(mu, cv, started));
  std::thread releaser([&] {
    std::this_thread::sleep_for(milliseconds(50));
    release.store(true);
  });
  watchdog.Remove(id);
  EXPECT_TRUE(finished.load());
  releaser.join();
}

// A callback may remove its own entry (and delete what owns it) and add new
// entries without deadlocking.
TEST(DeadlineWatchdogTest, CallbacksMayCallTheWatchdog) {
  DeadlineWatchdog watchdog;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  struct Owner {
    DeadlineWatchdog::Id id = 0;
  };
  auto* owner = new Owner;
  // Armed far away, then moved to now: the id is stored before the
  // callback can run.
  owner->id = watchdog.Add(Clock::now() + std::chrono::hours(1), [&, owner] {
    watchdog.Remove(owner->id);
    delete owner;
    watchdog.Add(Clock::now(), [&] {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_all();
    });
  });
  ASSERT_TRUE(watchdog.Reset(owner->id, Clock::now()));
  EXPECT_TRUE(WaitFor(mu, cv, done));
}

TEST(DeadlineWatchdogTest, DestructionDropsPendingEntries) {
  std::atomic<int> runs{0};
  {
    DeadlineWatchdog watchdog;
    watchdog.Add(Clock::now() + std::chrono::hours(1),
                 [&] { runs.fetch_add(1); });
    EXPECT_EQ(watchdog.size(), 1u);
  }
  EXPECT_EQ(runs.load(), 0);
}

}  // namespace
}  // namespace hashmatch
