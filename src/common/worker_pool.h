// WorkerPool: a fixed set of threads running submitted tasks in FIFO order.
// The servers run slow work here (match_server: image decoding and hashing;
// ingest_server: store writes and image hashing) instead of on gRPC's
// callback threads, so those stay free to admit or refuse new RPCs at once.
// The queue has no bound of its own: callers bound it (MatchServiceImpl only
// submits while holding a ConcurrencyLimiter permit).
//
//   WorkerPool pool(2);
//   pool.Submit([] { ... });
//   // ~WorkerPool runs every queued task, then joins.
//
// Thread safety: Submit may be called concurrently, also from tasks.
#ifndef HASHMATCH_SRC_COMMON_WORKER_POOL_H_
#define HASHMATCH_SRC_COMMON_WORKER_POOL_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hashmatch {

class WorkerPool {
 public:
  // REQUIRES: threads >= 1.
  explicit WorkerPool(int threads);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // Runs the tasks still queued, then joins the threads.
  ~WorkerPool();

  void Submit(std::function<void()> task);

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
  std::deque<Queued> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;         // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_COMMON_WORKER_POOL_H_
