#include "src/common/worker_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "gtest/gtest.h"

namespace hashmatch {
namespace {

TEST(WorkerPoolTest, RunsEveryTaskOnItsThreadsBeforeDestruction) {
  std::atomic<int> ran{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  {
    WorkerPool pool(2);
    EXPECT_EQ(pool.threads(), 2);
    for (int i = 0; i < 100; ++i) {
      pool.Submit([&] {
        ran.fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(std::this_thread::get_id());
      });
    }
  }
  EXPECT_EQ(ran.load(), 100);
  EXPECT_GE(ids.size(), 1u);
  EXPECT_LE(ids.size(), 2u);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
}

TEST(WorkerPoolTest, TasksMaySubmitTasks) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(1);
    pool.Submit([&] {
      ran.fetch_add(1);
      pool.Submit([&] { ran.fetch_add(10); });
    });
  }
  EXPECT_EQ(ran.load(), 11);
}

TEST(WorkerPoolTest, OldestQueuedSecondsAgesWhileTheOnlyThreadIsBusy) {
  std::mutex mu;
  std::condition_variable cv;
  bool started = false, release = false;
  WorkerPool pool(1);
  EXPECT_EQ(pool.OldestQueuedSeconds(), 0);
  pool.Submit([&] {
    std::unique_lock<std::mutex> lock(mu);
    started = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return started; });
  }
  EXPECT_EQ(pool.OldestQueuedSeconds(), 0);  // Running is not waiting.
  pool.Submit([] {});
  const double first = pool.OldestQueuedSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(pool.OldestQueuedSeconds(), first + 0.019);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
}

}  // namespace
}  // namespace hashmatch
