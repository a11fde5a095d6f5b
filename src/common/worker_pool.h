// WorkerPool: a fixed set of threads running submitted tasks. The servers run
// slow work here (match_server: image decoding and hashing; ingest_server:
// store writes and image hashing) instead of on gRPC's callback threads, so
// those stay free to admit or refuse new RPCs at once.
//
// Fairness: each task is queued under a key (match_server: the calling
// platform). Tasks of one key run in the order submitted; between keys the
// threads take turns, one task per key with work waiting, so a caller that
// queues a hundred tasks delays another caller's next task by at most one
// task per busy key, not by its whole backlog. Submit without a key uses
// the key "" (plain FIFO when every task has the same key).
//
// The queue has no bound of its own: callers bound it (MatchServiceImpl only
// submits while holding a ConcurrencyLimiter permit, and per-principal
// permits bound each key).
//
//   WorkerPool pool(2);
//   pool.Submit("platform-a", [] { ... });
//   // ~WorkerPool runs every queued task, then joins.
//
// Thread safety: Submit may be called concurrently, also from tasks.
#ifndef HASHMATCH_SRC_COMMON_WORKER_POOL_H_
#define HASHMATCH_SRC_COMMON_WORKER_POOL_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"

namespace hashmatch {

class WorkerPool {
 public:
  // REQUIRES: threads >= 1.
  explicit WorkerPool(int threads);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // Runs the tasks still queued, then joins the threads.
  ~WorkerPool();

  void Submit(std::function<void()> task) { Submit("", std::move(task)); }
  void Submit(absl::string_view key, std::function<void()> task);

  int threads() const { return static_cast<int>(threads_.size()); }

  // How long the oldest task not yet started has waited, in seconds; 0 when
  // none waits. A pool whose queue keeps ageing is saturated.
  double OldestQueuedSeconds() const;

 private:
  void Loop();

  struct Queued {
    std::chrono::steady_clock::time_point queued;
    std::function<void()> task;
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Waiting tasks per key; a key is present only while it has some.
  std::map<std::string, std::deque<Queued>, std::less<>>
      queues_;  // GUARDED_BY(mu_)
  // Keys with waiting tasks, in the order they get their next turn.
  std::deque<std::string> turns_;  // GUARDED_BY(mu_)
  bool stop_ = false;              // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_COMMON_WORKER_POOL_H_
