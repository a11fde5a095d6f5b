#include "src/server/follower.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/common/status_macros.h"

namespace hashmatch {
namespace server {

namespace v1 = ::hashmatch::v1;

namespace {

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

template <typename T>
std::vector<T> ToVector(const google::protobuf::RepeatedPtrField<T>& items) {
  return std::vector<T>(items.begin(), items.end());
}

}  // namespace

Follower::Follower(HashStore* store, const FollowerOptions& options)
    : store_(store), options_(options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options_.max_message_bytes);
  if (!options_.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options_.tls_server_name);
  }
  // Reconnect promptly: the follower's own backoff paces the retries.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              options_.backoff_initial_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, options_.backoff_max_ms);
  channel_ = grpc::CreateCustomChannel(options_.target,
                                       options_.credentials != nullptr
                                           ? options_.credentials
                                           : grpc::InsecureChannelCredentials(),
                                       args);
  std::lock_guard<std::mutex> lock(mu_);
  status_.applied_sequence = store_->LastSequence();
  status_.bootstrapped = status_.applied_sequence > 0;
}

Follower::~Follower() { Stop(); }

void Follower::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Follower::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

FollowerStatus Follower::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  FollowerStatus s = status_;
  s.lag_seconds = behind_
                      ? std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - behind_since_)
                            .count()
                      : 0;
  return s;
}

void Follower::UpdateLagLocked(uint64_t applied, bool loading) {
  status_.applied_sequence = applied;
  const uint64_t primary = std::max(status_.primary_sequence, applied);
  status_.lag_sequences = primary - applied;
  const bool behind = applied < primary || loading;
  if (behind && !behind_) behind_since_ = std::chrono::steady_clock::now();
  behind_ = behind;
}

void Follower::Event(const std::string& event, const absl::Status& status) {
  if (options_.on_event) options_.on_event(event, status);
}

bool Follower::SleepUnlessStopped(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_; });
  return !stop_;
}

void Follower::Run() {
  int backoff_ms = options_.backoff_initial_ms;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    bool got_message = false;
    absl::Status ended = FollowOnce();
    {
      std::lock_guard<std::mutex> lock(mu_);
      got_message = status_.connected;
      status_.connected = false;
      ++status_.streams_ended;
      if (stop_) return;
    }
    Event("stream_ended", ended);
    if (got_message) backoff_ms = options_.backoff_initial_ms;
    if (!SleepUnlessStopped(std::chrono::milliseconds(backoff_ms))) return;
    backoff_ms = std::min(options_.backoff_max_ms, backoff_ms * 2);
  }
}

absl::Status Follower::FollowOnce() {
  auto stub = v1::ReplicationService::NewStub(channel_);
  grpc::ClientContext context;
  if (!options_.token.empty()) {
    context.AddMetadata("authorization", "Bearer " + options_.token);
  }
  // Continuity check: ask from one change before the store's last, and
  // require the primary's copy of that change to equal this store's, so a
  // store filled from another primary (or a primary whose store was
  // replaced) is never extended with changes of a different history.
  const uint64_t last = store_->LastSequence();
  std::optional<v1::Change> overlap;
  if (last > 0) {
    absl::StatusOr<std::vector<v1::Change>> mine =
        store_->ChangesSince(last - 1, 1);
    if (mine.ok() && !mine->empty() && (*mine)[0].sequence() == last) {
      overlap = (*mine)[0];
    }
  }
  v1::WatchChangesRequest request;
  request.set_after_sequence(overlap.has_value() ? last - 1 : last);
  request.set_snapshot(last == 0);
  request.set_follower(options_.name);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return absl::CancelledError("stopping");
    context_ = &context;
  }
  std::unique_ptr<grpc::ClientReader<v1::WatchChangesResponse>> reader =
      stub->WatchChanges(&context, request);
  v1::WatchChangesResponse message;
  bool loading = false;
  absl::Status failure;
  while (reader->Read(&message)) {
    bool reconnected = false;
    {
      // What the message says is missing counts as lag while it is being
      // applied.
      std::lock_guard<std::mutex> lock(mu_);
      if (!status_.connected) {
        reconnected = ever_connected_;
        if (reconnected) ++status_.reconnects;
        ever_connected_ = true;
      }
      status_.connected = true;
      status_.primary_sequence = message.primary_sequence();
      status_.primary_time_micros = message.primary_time_micros();
      UpdateLagLocked(status_.applied_sequence,
                      loading || message.has_snapshot_entries());
    }
    if (reconnected) {
      Event("reconnected", absl::OkStatus());
      if (options_.on_reconnect) options_.on_reconnect();
    }
    failure = Handle(message, &loading, &overlap);
    const uint64_t applied = store_->LastSequence();
    {
      std::lock_guard<std::mutex> lock(mu_);
      UpdateLagLocked(applied, loading);
    }
    if (!failure.ok()) {
      Event("apply_failed", failure);
      context.TryCancel();
      break;
    }
  }
  grpc::Status finish = reader->Finish();
  {
    std::lock_guard<std::mutex> lock(mu_);
    context_ = nullptr;
  }
  if (!failure.ok()) return failure;
  return FromGrpcStatus(finish);
}

absl::Status Follower::Handle(const v1::WatchChangesResponse& message,
                              bool* loading,
                              std::optional<v1::Change>* overlap) {
  switch (message.kind_case()) {
    case v1::WatchChangesResponse::kSnapshotEntries: {
      if (!*loading) {
        RETURN_IF_ERROR(
            store_->BeginSnapshot(message.snapshot_entries().sequence()));
        *loading = true;
      }
      return store_->AddSnapshotEntries(
          ToVector(message.snapshot_entries().entries()));
    }
    case v1::WatchChangesResponse::kSnapshotEnd: {
      const v1::SnapshotEnd& end = message.snapshot_end();
      if (!*loading) RETURN_IF_ERROR(store_->BeginSnapshot(end.sequence()));
      RETURN_IF_ERROR(
          store_->FinishSnapshot(end.sequence(), end.entry_count()));
      *loading = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        status_.bootstrapped = true;
      }
      Event("snapshot_loaded",
            absl::OkStatus());  // Sequence and count: in status().
      if (options_.on_applied) options_.on_applied(end.sequence());
      return absl::OkStatus();
    }
    case v1::WatchChangesResponse::kChanges: {
      if (*loading) {
        return absl::FailedPreconditionError(
            "change batch in the middle of a snapshot");
      }
      std::vector<v1::Change> changes = ToVector(message.changes().changes());
      if (overlap->has_value() && !changes.empty()) {
        const v1::Change& theirs = changes.front();
        if (theirs.sequence() != (*overlap)->sequence() ||
            !google::protobuf::util::MessageDifferencer::Equals(theirs,
                                                                **overlap)) {
          return absl::FailedPreconditionError(absl::StrCat(
              "the primary's change ", theirs.sequence(),
              " differs from this store's change ", (*overlap)->sequence(),
              ": the store holds another primary's history; not applying "
              "(start from an empty --db)"));
        }
        changes.erase(changes.begin());
        overlap->reset();
      }
      if (changes.empty()) return absl::OkStatus();
      RETURN_IF_ERROR(store_->ApplyChanges(changes));
      if (options_.on_applied) options_.on_applied(store_->LastSequence());
      return absl::OkStatus();
    }
    case v1::WatchChangesResponse::kHeartbeat:
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown WatchChanges message kind ",
                       static_cast<int>(message.kind_case())));
  }
}

}  // namespace server
}  // namespace hashmatch
