#include "src/common/deadline_watchdog.h"

#include <utility>

namespace hashmatch {

DeadlineWatchdog::DeadlineWatchdog() : thread_([this] { Loop(); }) {}

DeadlineWatchdog::~DeadlineWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DeadlineWatchdog::WakeIfEarlierLocked(Clock::time_point deadline) {
  if (deadline < sleeping_until_) cv_.notify_all();
}

DeadlineWatchdog::Id DeadlineWatchdog::Add(Clock::time_point deadline,
                                           std::function<void()> on_expire) {
  std::lock_guard<std::mutex> lock(mu_);
  const Id id = next_id_++;
  entries_.emplace(id, Entry{deadline, std::move(on_expire)});
  WakeIfEarlierLocked(deadline);
  return id;
}

bool DeadlineWatchdog::Reset(Id id, Clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  it->second.deadline = deadline;
  WakeIfEarlierLocked(deadline);
  return true;
}

void DeadlineWatchdog::Remove(Id id) {
  if (id == 0) return;
  std::unique_lock<std::mutex> lock(mu_);
  entries_.erase(id);
  if (std::this_thread::get_id() == thread_.get_id()) return;
  done_cv_.wait(lock, [&] { return running_ != id; });
}

size_t DeadlineWatchdog::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

void DeadlineWatchdog::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    auto earliest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (earliest == entries_.end() ||
          it->second.deadline < earliest->second.deadline) {
        earliest = it;
      }
    }
    if (earliest == entries_.end()) {
      sleeping_until_ = Clock::time_point::max();
      cv_.wait(lock);
      continue;
    }
    if (earliest->second.deadline > Clock::now()) {
      sleeping_until_ = earliest->second.deadline;
      cv_.wait_until(lock, sleeping_until_);
      continue;
    }
    sleeping_until_ = Clock::time_point::max();
    running_ = earliest->first;
    std::function<void()> on_expire = std::move(earliest->second.on_expire);
    entries_.erase(earliest);
    lock.unlock();
    on_expire();
    on_expire = nullptr;  // Its captures go before Remove may return.
    lock.lock();
    running_ = 0;
    done_cv_.notify_all();
  }
}

}  // namespace hashmatch
