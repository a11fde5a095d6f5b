#include "src/common/worker_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

// One thread, blocked while a greedy key queues 5 tasks; then a second key
// queues one. Keys take turns: the second key's task runs right after the
// greedy key's next one, not after its whole backlog.
TEST(WorkerPoolTest, KeysTakeTurns) {
  std::mutex mu;
  std::condition_variable cv;
  bool started = false, release = false;
  std::vector<std::string> order;
  {
    WorkerPool pool(1);
    pool.Submit("greedy", [&] {
      std::unique_lock<std::mutex> lock(mu);
      started = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
      order.push_back("greedy0");
    });
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return started; });
    }
    for (int i = 1; i <= 5; ++i) {
      pool.Submit("greedy", [&, i] {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back("greedy" + std::to_string(i));
      });
    }
    pool.Submit("normal", [&] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back("normal");
    });
    pool.Submit("", [&] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back("unkeyed");
    });
    {
      std::lock_guard<std::mutex> lock(mu);
      release = true;
    }
    cv.notify_all();
  }
  // The first greedy task was already running; then greedy1, normal and
  // unkeyed each get a turn before greedy2.
  EXPECT_EQ(order, (std::vector<std::string>{"greedy0", "greedy1", "normal",
                                             "unkeyed", "greedy2", "greedy3",
                                             "greedy4", "greedy5"}));
}

}  // namespace
}  // namespace hashmatch
