// DeadlineWatchdog: one thread that runs a callback for each registered
// deadline once it has passed, unless the deadline was moved or removed
// first. The servers use it to end streams that stay idle (MatchVideo
// uploads, SubmitStream) or whose writes stall (WatchChanges), so that such
// a stream cannot hold one of a bounded number of slots for ever.
//
//   DeadlineWatchdog watchdog;
//   DeadlineWatchdog::Id id = watchdog.Add(now + 10s, [r] { r->Expire(); });
//   watchdog.Reset(id, now + 10s);   // activity: later deadline
//   watchdog.Remove(id);             // done: the callback will not run
//
// Each callback runs at most once, on the watchdog thread, without any lock
// of the watchdog held (it may call Add, Reset and Remove). An expired entry
// is removed before its callback runs. Callbacks run one at a time: a slow
// one delays the others, so keep them short (e.g. finish an RPC).
//
// Cost: Add, Reset and Remove take one mutex and scan nothing; the thread
// scans every entry once per wake-up (entries are the streams open at once:
// bounded by the servers' stream limits, tens to hundreds), and wakes when
// the earliest deadline passes or one is set earlier than it.
//
// Thread safety: all methods may be called concurrently, also from
// callbacks. Remove(id) returns only once the callback of `id` is neither
// running nor going to run, except when called from that very callback (on
// the watchdog thread), where it returns at once; so an object may delete
// itself after removing its entry.
#ifndef HASHMATCH_SRC_COMMON_DEADLINE_WATCHDOG_H_
#define HASHMATCH_SRC_COMMON_DEADLINE_WATCHDOG_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace hashmatch {

class DeadlineWatchdog {
 public:
  using Clock = std::chrono::steady_clock;
  // 0 is never an id.
  using Id = uint64_t;

  DeadlineWatchdog();
  DeadlineWatchdog(const DeadlineWatchdog&) = delete;
  DeadlineWatchdog& operator=(const DeadlineWatchdog&) = delete;
  // Joins the thread; entries still registered are dropped without running.
  // REQUIRES: no other call is in progress or will start.
  ~DeadlineWatchdog();

  // Runs `on_expire` once `deadline` has passed (at once if it already has).
  Id Add(Clock::time_point deadline, std::function<void()> on_expire);
  // Moves the deadline of `id`. False (and no effect) when `id` already
  // expired or was removed.
  bool Reset(Id id, Clock::time_point deadline);
  // Unregisters `id` (no effect if unknown or 0); see the class comment for
  // when it returns.
  void Remove(Id id);

  // Entries registered and not yet expired.
  size_t size() const;

 private:
  struct Entry {
    Clock::time_point deadline;
    std::function<void()> on_expire;
  };

  void Loop();
  // Wakes the thread if `deadline` is before the one it sleeps until.
  void WakeIfEarlierLocked(Clock::time_point deadline);

  mutable std::mutex mu_;
  std::condition_variable cv_;       // The thread waits on it.
  std::condition_variable done_cv_;  // Remove waits on it for `running_`.
  std::map<Id, Entry> entries_;      // GUARDED_BY(mu_)
  Id next_id_ = 1;                   // GUARDED_BY(mu_)
  Id running_ = 0;                   // GUARDED_BY(mu_): callback running.
  // The deadline the thread sleeps until (max(): none).
  Clock::time_point sleeping_until_ = Clock::time_point::max();  // GUARDED_BY
  bool stop_ = false;                                            // GUARDED_BY
  std::thread thread_;  // Last: started once the rest is initialised.
};

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_COMMON_DEADLINE_WATCHDOG_H_
