// SnapshotSaver: match_server's use of the index snapshot (--snapshot_dir,
// --snapshot_interval_seconds). A worker thread saves VettedIndex snapshots
// every interval when applied_sequence() advanced since the last save (or
// since the snapshot the index was opened from), and once more at drain.
//
//   SnapshotSaver saver(index, 600);  // index->Open used snapshot_dir
//   ...
//   if (!saver.SaveAtDrain(deadline)) _exit(0);  // save still running
//
// LogSnapshotOpen logs, per binary signal type, whether Open used the
// snapshot or why not ("index_snapshot" events).
//
// Thread safety: SaveAtDrain is called by one thread; the worker is the only
// other thread touching the saver. `index` must outlive the saver, or the
// process must _exit when SaveAtDrain returns false.
#ifndef HASHMATCH_SRC_SERVER_SNAPSHOT_SAVER_H_
#define HASHMATCH_SRC_SERVER_SNAPSHOT_SAVER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "index/vetted/vetted_index.h"

namespace hashmatch {
namespace server {

// One "index_snapshot" log line per binary signal type from open_info().
void LogSnapshotOpen(const VettedIndex& index);

class SnapshotSaver {
 public:
  // Starts the worker. interval_seconds 0: saves only at drain.
  SnapshotSaver(const VettedIndex* index, int interval_seconds);
  // Stops and joins the worker (waits for a save in progress).
  ~SnapshotSaver();
  SnapshotSaver(const SnapshotSaver&) = delete;
  SnapshotSaver& operator=(const SnapshotSaver&) = delete;

  // Stops the periodic saves and saves once more if the sequence advanced;
  // waits until `deadline`. True when the worker finished (saved, failed and
  // logged, or nothing to save); false when the save is still running at the
  // deadline (logged): the caller must not destroy the index then.
  bool SaveAtDrain(std::chrono::steady_clock::time_point deadline);

 private:
  void Run();
  void SaveIfAdvanced(const char* reason);

  const VettedIndex* const index_;
  const int interval_seconds_;
  uint64_t saved_sequence_;  // Used by the worker only.
  bool have_saved_;          // Used by the worker only.
  std::mutex mu_;
  std::condition_variable cv_;
  bool drain_ = false;  // GUARDED_BY(mu_)
  bool done_ = false;   // GUARDED_BY(mu_)
  std::thread worker_;
};

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_SNAPSHOT_SAVER_H_
