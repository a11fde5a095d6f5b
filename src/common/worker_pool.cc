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

void WorkerPool::Submit(absl::string_view key, std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = queues_.find(key);
    if (it == queues_.end()) {
      it = queues_.emplace(std::string(key), std::deque<Queued>()).first;
      turns_.emplace_back(key);
    }
    it->second.push_back({std::chrono::steady_clock::now(), std::move(task)});
  }
  cv_.notify_one();
}

void WorkerPool::Loop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !turns_.empty(); });
      if (turns_.empty()) return;  // stop_ and nothing left.
      std::string key = std::move(turns_.front());
      turns_.pop_front();
      auto it = queues_.find(key);
      task = std::move(it->second.front().task);
      it->second.pop_front();
      if (it->second.empty()) {
        queues_.erase(it);
      } else {
        turns_.push_back(std::move(key));  // Its next task waits its turn.
      }
    }
    task();
  }
}

double WorkerPool::OldestQueuedSeconds() const {
  std::chrono::steady_clock::time_point oldest =
      std::chrono::steady_clock::time_point::max();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queues_.empty()) return 0;
    for (const auto& [key, queue] : queues_) {
      oldest = std::min(oldest, queue.front().queued);
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       oldest)
      .count();
}

}  // namespace hashmatch
