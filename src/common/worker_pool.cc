#include "src/common/worker_pool.h"

#include <utility>

namespace hashmatch {

WorkerPool::WorkerPool(int threads) {
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back({std::chrono::steady_clock::now(), std::move(task)});
  }
  cv_.notify_one();
}

void WorkerPool::Loop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left.
      task = std::move(queue_.front().task);
      queue_.pop_front();
    }
    task();
  }
}

double WorkerPool::OldestQueuedSeconds() const {
  std::chrono::steady_clock::time_point oldest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) return 0;
    oldest = queue_.front().queued;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       oldest)
      .count();
}

}  // namespace hashmatch
