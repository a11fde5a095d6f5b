#include "src/ingest/replication_service.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "src/common/status_util.h"

namespace hashmatch {
namespace ingest {

namespace v1 = ::hashmatch::v1;

class ReplicationServiceImpl::Stream
    : public grpc::ServerWriteReactor<v1::WatchChangesResponse> {
 public:
  Stream(ReplicationServiceImpl* service, grpc::CallbackServerContext* context,
         const v1::WatchChangesRequest& request)
      : service_(service), context_(context), request_(request) {}

  // Checks the call and, when it may proceed, registers the stream and
  // sends the first message.
  void Start() {
    absl::Status status = Admit();
    if (!status.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        finished_ = true;
      }
      Finish(ToGrpcStatus(status));
      return;
    }
    service_->Register(this);
    registered_ = true;
    Pump();
  }

  // Starts the next write unless one is in flight or there is nothing to
  // send.
  void Pump() {
    std::optional<grpc::Status> end = PumpOrEnd();
    if (end.has_value()) Finish(*end);
  }

  // As Pump, but a store error is returned (the stream marked finished)
  // for the caller to pass to Finish once it holds no lock of its own.
  std::optional<grpc::Status> PumpOrEnd() {
    std::unique_lock<std::mutex> lock(mu_);
    if (writing_ || finished_) return std::nullopt;
    if (service_->draining_.load()) {
      finished_ = true;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server draining");
    }
    absl::StatusOr<bool> has = NextMessage();
    if (!has.ok()) {
      finished_ = true;
      return ToGrpcStatus(has.status());
    }
    if (!*has) return std::nullopt;
    writing_ = true;
    last_write_ = std::chrono::steady_clock::now();
    stall_timer_ = service_->watchdog_.Add(
        last_write_ + std::chrono::milliseconds(
                          service_->options_.write_stall_timeout_ms),
        [this] { Stalled(); });
    lock.unlock();
    StartWrite(&response_);
    return std::nullopt;
  }

  void FinishWith(const grpc::Status& status) { Finish(status); }

  void OnWriteDone(bool ok) override {
    DeadlineWatchdog::Id stall_timer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stall_timer = stall_timer_;
      stall_timer_ = 0;
    }
    // Waits for a Stalled() that is running (it finds writing_ set and may
    // be cancelling the call: then ok is false or cancelled_ set below).
    service_->watchdog_.Remove(stall_timer);
    {
      std::unique_lock<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok || cancelled_) {
        if (finished_) return;
        finished_ = true;
        lock.unlock();
        Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                            "stream cancelled or write failed"));
        return;
      }
    }
    Pump();
  }

  void OnCancel() override {
    std::unique_lock<std::mutex> lock(mu_);
    cancelled_ = true;
    if (writing_ || finished_) return;  // OnWriteDone finishes.
    finished_ = true;
    lock.unlock();
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
  }

  void OnDone() override {
    // No write is in flight; returns at once inside Stalled()'s TryCancel.
    DeadlineWatchdog::Id stall_timer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stall_timer = stall_timer_;
    }
    service_->watchdog_.Remove(stall_timer);
    if (registered_) service_->Unregister(this);
    service_->active_streams_.fetch_sub(1);
    delete this;
  }

 private:
  // On the watchdog thread: the write started at last_write_ is not
  // complete after write_stall_timeout_ms (the follower stopped reading).
  // Cancels the call; the write then completes (not ok) and OnWriteDone
  // finishes the stream. OnDone may run inside TryCancel: nothing of `this`
  // is used after it.
  void Stalled() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!writing_ || finished_ || cancelled_) return;
    }
    const ReplicationServiceOptions& options = service_->options_;
    if (options.on_stream_timeout) {
      options.on_stream_timeout("WatchChanges", "write_stall");
    }
    context_->TryCancel();
  }

  absl::Status Admit() {
    absl::StatusOr<v1::Principal> who =
        Authorize(*service_->authenticator_, CredentialsOf(*context_),
                  IngestRpc::kWatchChanges);
    if (!who.ok()) return who.status();
    if (service_->draining_.load()) {
      return absl::UnavailableError("server draining");
    }
    if (service_->active_streams_.load() > service_->options_.max_streams) {
      return absl::ResourceExhaustedError(
          absl::StrCat("too many WatchChanges streams (limit ",
                       service_->options_.max_streams, ")"));
    }
    const HashStore& store = *service_->store_;
    const uint64_t last = store.LastSequence();
    const uint64_t after = request_.after_sequence();
    if (after > last) {
      return absl::OutOfRangeError(absl::StrCat(
          "after_sequence ", after, " is ahead of the primary's last sequence ",
          last, " (is the follower's store from another primary?)"));
    }
    bool snapshot = request_.snapshot();
    if (!snapshot && after < last) {
      ASSIGN_OR_RETURN(std::vector<v1::Change> next,
                       store.ChangesSince(after, 1));
      snapshot = next.empty() || next[0].sequence() != after + 1;
    }
    if (snapshot) {
      ASSIGN_OR_RETURN(cursor_, store.NewEntryCursor(0));
    } else {
      sent_through_ = after;
    }
    return absl::OkStatus();
  }

  // Fills response_ with the next message; false when there is nothing to
  // send now.
  absl::StatusOr<bool> NextMessage() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const ReplicationServiceOptions& options = service_->options_;
    const HashStore& store = *service_->store_;
    response_.Clear();
    if (cursor_ != nullptr) {
      const uint64_t s = cursor_->sequence();
      if (!cursor_done_) {
        v1::SnapshotEntries* entries = response_.mutable_snapshot_entries();
        entries->set_sequence(s);
        size_t bytes = 0;
        while (static_cast<size_t>(entries->entries_size()) <
                   options.max_snapshot_entries &&
               bytes < options.max_message_bytes) {
          ASSIGN_OR_RETURN(std::optional<v1::Entry> e, cursor_->Next());
          if (!e.has_value()) {
            cursor_done_ = true;
            break;
          }
          bytes += e->ByteSizeLong();
          *entries->add_entries() = *std::move(e);
        }
        snapshot_count_ += static_cast<uint64_t>(entries->entries_size());
      }
      if (cursor_done_ && response_.snapshot_entries().entries_size() == 0) {
        v1::SnapshotEnd* end = response_.mutable_snapshot_end();
        end->set_sequence(s);
        end->set_entry_count(snapshot_count_);
        sent_through_ = s;
        cursor_.reset();
      }
    } else if (store.LastSequence() > sent_through_) {
      ASSIGN_OR_RETURN(
          std::vector<v1::Change> changes,
          store.ChangesSince(sent_through_, options.max_batch_changes));
      v1::ChangeBatch* batch = response_.mutable_changes();
      size_t bytes = 0;
      for (v1::Change& c : changes) {
        if (c.sequence() != sent_through_ + 1) {
          return absl::FailedPreconditionError(absl::StrCat(
              "the primary's change log has sequence ", c.sequence(), " after ",
              sent_through_, ": it cannot serve this follower"));
        }
        if (batch->changes_size() > 0 && bytes >= options.max_message_bytes) {
          break;
        }
        bytes += c.ByteSizeLong();
        sent_through_ = c.sequence();
        *batch->add_changes() = std::move(c);
      }
      if (batch->changes_size() == 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the primary's change log lacks sequence ", sent_through_ + 1));
      }
    } else if (std::chrono::steady_clock::now() - last_write_ >=
               std::chrono::milliseconds(options.heartbeat_interval_ms)) {
      response_.mutable_heartbeat();
    } else {
      return false;
    }
    response_.set_primary_sequence(
        std::max(store.LastSequence(), sent_through_));
    response_.set_primary_time_micros(service_->NowMicros());
    return true;
  }

  ReplicationServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  const v1::WatchChangesRequest request_;
  bool registered_ = false;  // Set by Start before any other reaction.

  std::mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // The message being written; only touched while no write is in flight.
  v1::WatchChangesResponse response_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point last_write_ ABSL_GUARDED_BY(mu_);
  // The watchdog entry of the write in flight (0: none).
  DeadlineWatchdog::Id stall_timer_ ABSL_GUARDED_BY(mu_) = 0;
  // During a snapshot.
  std::unique_ptr<HashStore::EntryCursor> cursor_ ABSL_GUARDED_BY(mu_);
  bool cursor_done_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t snapshot_count_ ABSL_GUARDED_BY(mu_) = 0;
  // The follower has everything up to this sequence once the writes sent
  // so far arrive.
  uint64_t sent_through_ ABSL_GUARDED_BY(mu_) = 0;
};

ReplicationServiceImpl::ReplicationServiceImpl(
    const HashStore* store, const Authenticator* authenticator,
    const ReplicationServiceOptions& options)
    : store_(store), authenticator_(authenticator), options_(options) {
  pump_ = std::thread([this] { PumpLoop(); });
}

ReplicationServiceImpl::~ReplicationServiceImpl() {
  {
    std::lock_guard<std::mutex> lock(pump_mu_);
    stop_ = true;
  }
  pump_cv_.notify_all();
  pump_.join();
}

int64_t ReplicationServiceImpl::NowMicros() const {
  if (options_.now_micros) return options_.now_micros();
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void ReplicationServiceImpl::StartDraining() {
  draining_.store(true);
  NotifyCommitted(0);
}

void ReplicationServiceImpl::NotifyCommitted(uint64_t /*sequence*/) {
  {
    std::lock_guard<std::mutex> lock(pump_mu_);
    notified_ = true;
  }
  pump_cv_.notify_one();
}

void ReplicationServiceImpl::PumpLoop() {
  const auto tick = std::chrono::milliseconds(
      std::max(1, options_.heartbeat_interval_ms / 2));
  std::unique_lock<std::mutex> lock(pump_mu_);
  while (!stop_) {
    pump_cv_.wait_for(lock, tick, [this] { return stop_ || notified_; });
    if (stop_) break;
    notified_ = false;
    lock.unlock();
    // Streams that hit an error are finished outside streams_mu_ (their
    // OnDone takes it); they cannot be deleted before Finish.
    std::vector<std::pair<Stream*, grpc::Status>> ended;
    {
      std::lock_guard<std::mutex> streams_lock(streams_mu_);
      for (Stream* s : streams_) {
        std::optional<grpc::Status> end = s->PumpOrEnd();
        if (end.has_value()) ended.emplace_back(s, *end);
      }
    }
    for (auto& [stream, status] : ended) stream->FinishWith(status);
    lock.lock();
  }
}

void ReplicationServiceImpl::Register(Stream* stream) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  streams_.insert(stream);
}

void ReplicationServiceImpl::Unregister(Stream* stream) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  streams_.erase(stream);
}

grpc::ServerWriteReactor<v1::WatchChangesResponse>*
ReplicationServiceImpl::WatchChanges(grpc::CallbackServerContext* context,
                                     const v1::WatchChangesRequest* request) {
  active_streams_.fetch_add(1);
  auto* stream = new Stream(this, context, *request);
  stream->Start();
  return stream;
}

}  // namespace ingest
}  // namespace hashmatch
