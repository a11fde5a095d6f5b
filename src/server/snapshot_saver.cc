#include "src/server/snapshot_saver.h"

#include <string>

#include "absl/status/status.h"
#include "src/server/json_log.h"

namespace hashmatch {
namespace server {

void LogSnapshotOpen(const VettedIndex& index) {
  for (const SignalOpenInfo& info : index.open_info()) {
    LogLine(info.from_snapshot ? "info" : "warning", "index_snapshot")
        .Str("signal", hashmatch::v1::SignalType_Name(info.signal_type))
        .Bool("used", info.from_snapshot)
        .Int("sequence", static_cast<int64_t>(info.sequence))
        .Str("code", absl::StatusCodeToString(info.snapshot_status.code()))
        .Str("reason",
             info.from_snapshot ? "loaded" : "rejected; rebuilt from the store")
        .Str("message", info.snapshot_status.message())
        .Emit();
  }
}

SnapshotSaver::SnapshotSaver(const VettedIndex* index, int interval_seconds)
    : index_(index),
      interval_seconds_(interval_seconds),
      saved_sequence_(0),
      have_saved_(false) {
  // Every signal type loaded from a snapshot at the applied sequence: the
  // files on disk are current.
  bool current = !index_->open_info().empty();
  for (const SignalOpenInfo& info : index_->open_info()) {
    if (!info.from_snapshot || info.sequence != index_->applied_sequence()) {
      current = false;
    }
  }
  if (current) {
    have_saved_ = true;
    saved_sequence_ = index_->applied_sequence();
  }
  worker_ = std::thread([this] { Run(); });
}

SnapshotSaver::~SnapshotSaver() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    drain_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void SnapshotSaver::SaveIfAdvanced(const char* reason) {
  const uint64_t sequence = index_->applied_sequence();
  if (have_saved_ && sequence == saved_sequence_) return;
  const auto start = std::chrono::steady_clock::now();
  const absl::Status s = index_->SaveSnapshot();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (!s.ok()) {
    LogLine("error", "snapshot_save_failed")
        .Str("reason", reason)
        .Str("code", absl::StatusCodeToString(s.code()))
        .Str("message", s.message())
        .Emit();
    return;
  }
  have_saved_ = true;
  saved_sequence_ = sequence;
  LogLine("info", "snapshot_saved")
      .Str("reason", reason)
      .Int("sequence", static_cast<int64_t>(sequence))
      .Double("seconds", seconds)
      .Emit();
}

void SnapshotSaver::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!drain_) {
    if (interval_seconds_ == 0) {
      cv_.wait(lock, [this] { return drain_; });
    } else {
      cv_.wait_for(lock, std::chrono::seconds(interval_seconds_),
                   [this] { return drain_; });
    }
    if (drain_) break;
    lock.unlock();
    SaveIfAdvanced("interval");
    lock.lock();
  }
  lock.unlock();
  SaveIfAdvanced("drain");
  lock.lock();
  done_ = true;
  cv_.notify_all();
}

bool SnapshotSaver::SaveAtDrain(
    std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  drain_ = true;
  cv_.notify_all();
  if (!cv_.wait_until(lock, deadline, [this] { return done_; })) {
    LogLine("error", "snapshot_save_timeout")
        .Str("message",
             "the drain budget ran out during the snapshot save; exiting "
             "without it (the previous snapshot file stays intact)")
        .Emit();
    return false;
  }
  lock.unlock();
  worker_.join();
  return true;
}

}  // namespace server
}  // namespace hashmatch
