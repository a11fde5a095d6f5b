#include "src/common/worker_pool.h"

#include <atomic>
#include <set>

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

}  // namespace
}  // namespace hashmatch
