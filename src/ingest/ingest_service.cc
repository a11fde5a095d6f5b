#include "src/ingest/ingest_service.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/common/status_util.h"

namespace hashmatch {
namespace ingest {
namespace {

// The status of a call that the client abandoned before it ran.
grpc::Status NotRun(const grpc::CallbackServerContext& context) {
  if (context.deadline() <= std::chrono::system_clock::now()) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "deadline exceeded before the call ran");
  }
  return grpc::Status(grpc::StatusCode::CANCELLED,
                      "cancelled before the call ran");
}

grpc::Status TooMany(absl::string_view what, int limit) {
  return grpc::Status(
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      absl::StrCat("server at capacity: ", limit, " ", what, " already open"));
}

}  // namespace

IngestServiceImpl::IngestServiceImpl(IngestCore* core,
                                     const Authenticator& authenticator,
                                     const IngestServiceOptions& options)
    : core_(core),
      authenticator_(authenticator),
      options_(options),
      pool_(std::make_unique<WorkerPool>(std::max(1, options.worker_threads))) {
}

IngestServiceImpl::IngestServiceImpl(std::unique_ptr<IngestCore> core,
                                     const Authenticator& authenticator,
                                     const IngestServiceOptions& options)
    : IngestServiceImpl(core.get(), authenticator, options) {
  owned_core_ = std::move(core);
}

IngestServiceImpl::~IngestServiceImpl() = default;

template <typename Work>
grpc::ServerUnaryReactor* IngestServiceImpl::Unary(
    grpc::CallbackServerContext* context, IngestRpc rpc, Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Principal> who =
      Authorize(authenticator_, CredentialsOf(*context), rpc);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  if (queued_calls_.fetch_add(1) >= options_.max_queued_calls) {
    queued_calls_.fetch_sub(1);
    reactor->Finish(TooMany("calls", options_.max_queued_calls));
    return reactor;
  }
  pool_->Submit([this, reactor, context, work, principal = *std::move(who)] {
    const grpc::Status status = context->IsCancelled()
                                    ? NotRun(*context)
                                    : ToGrpcStatus(work(principal));
    queued_calls_.fetch_sub(1);
    reactor->Finish(status);
  });
  return reactor;
}

grpc::ServerUnaryReactor* IngestServiceImpl::Submit(
    grpc::CallbackServerContext* context, const v1::SubmitRequest* request,
    v1::SubmitResponse* response) {
  return Unary(context, IngestRpc::kSubmit,
               [this, request, response](const v1::Principal& who) {
                 absl::StatusOr<v1::SubmitResponse> r =
                     core_->Submit(who, *request);
                 if (r.ok()) *response = *std::move(r);
                 return r.status();
               });
}

grpc::ServerUnaryReactor* IngestServiceImpl::Retract(
    grpc::CallbackServerContext* context, const v1::RetractRequest* request,
    v1::RetractResponse* response) {
  return Unary(context, IngestRpc::kRetract,
               [this, request, response](const v1::Principal& who) {
                 absl::StatusOr<v1::RetractResponse> r =
                     core_->Retract(who, *request);
                 if (r.ok()) *response = *std::move(r);
                 return r.status();
               });
}

grpc::ServerUnaryReactor* IngestServiceImpl::Confirm(
    grpc::CallbackServerContext* context, const v1::ConfirmRequest* request,
    v1::ConfirmResponse* response) {
  return Unary(context, IngestRpc::kConfirm,
               [this, request, response](const v1::Principal& who) {
                 absl::StatusOr<v1::ConfirmResponse> r =
                     core_->Confirm(who, *request);
                 if (r.ok()) *response = *std::move(r);
                 return r.status();
               });
}

grpc::ServerUnaryReactor* IngestServiceImpl::Dispute(
    grpc::CallbackServerContext* context, const v1::DisputeRequest* request,
    v1::DisputeResponse* response) {
  return Unary(context, IngestRpc::kDispute,
               [this, request, response](const v1::Principal& who) {
                 absl::StatusOr<v1::DisputeResponse> r =
                     core_->Dispute(who, *request);
                 if (r.ok()) *response = *std::move(r);
                 return r.status();
               });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ResolveDispute(
    grpc::CallbackServerContext* context,
    const v1::ResolveDisputeRequest* request,
    v1::ResolveDisputeResponse* response) {
  return Unary(context, IngestRpc::kResolveDispute,
               [this, request, response](const v1::Principal& who) {
                 absl::StatusOr<v1::ResolveDisputeResponse> r =
                     core_->ResolveDispute(who, *request);
                 if (r.ok()) *response = *std::move(r);
                 return r.status();
               });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetEntry(
    grpc::CallbackServerContext* context, const v1::GetEntryRequest* request,
    v1::Entry* response) {
  return Unary(context, IngestRpc::kGetEntry,
               [this, request, response](const v1::Principal&) {
                 absl::StatusOr<v1::Entry> r = core_->GetEntry(*request);
                 if (r.ok()) *response = *std::move(r);
                 return r.status();
               });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ListEntries(
    grpc::CallbackServerContext* context, const v1::ListEntriesRequest* request,
    v1::ListEntriesResponse* response) {
  return Unary(context, IngestRpc::kListEntries,
               [this, request, response](const v1::Principal&) {
                 absl::StatusOr<v1::ListEntriesResponse> r =
                     core_->ListEntries(*request);
                 if (r.ok()) *response = *std::move(r);
                 return r.status();
               });
}

// ---------------------------------------------------------------------------
// SubmitStream

// Idle limit: while the stream waits for its next request it has an entry
// in the service's watchdog_. state_ says who may finish the stream:
//   kArming   ArmAndRead is starting the read; an Expire now only sets
//             expired_while_arming_, and ArmAndRead finishes the stream
//             once StartRead returned (never a read after Finish), unless
//             the read completed first.
//   kReading  a read is outstanding: Expire (watchdog thread) finishes.
//   kWorking  a request is being committed or its response written: only
//             the reactions (and the pool task) finish.
//   kDone     finished.
// ArmAndRead runs only where OnDone cannot (inside the handler before gRPC
// binds the reactor, or inside OnWriteDone), so `this` outlives it.
class IngestServiceImpl::SubmitStreamReactor
    : public grpc::ServerBidiReactor<v1::SubmitRequest, v1::SubmitResponse> {
 public:
  SubmitStreamReactor(IngestServiceImpl* service,
                      grpc::CallbackServerContext* context)
      : service_(service), context_(context) {
    const int open = service_->submit_streams_.fetch_add(1) + 1;
    absl::StatusOr<v1::Principal> who =
        Authorize(service_->authenticator_, CredentialsOf(*context),
                  IngestRpc::kSubmitStream);
    if (!who.ok()) {
      FinishOnce(ToGrpcStatus(who.status()));
      return;
    }
    if (open > service_->options_.max_submit_streams) {
      FinishOnce(
          TooMany("submit streams", service_->options_.max_submit_streams));
      return;
    }
    principal_ = *std::move(who);
    ArmAndRead();
  }

  void OnReadDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // kDone: Expire finished the stream. kArming: the read beat
      // ArmAndRead's return (and any expiry since: the request came in
      // time).
      if (state_ == State::kDone) return;
      state_ = State::kWorking;
    }
    service_->watchdog_.Remove(TakeTimer());
    if (!ok) {
      // The client half-closed (every response was written before this
      // read started), or the call is gone.
      FinishOnce(grpc::Status::OK);
      return;
    }
    service_->pool_->Submit([this] {
      if (context_->IsCancelled()) {
        FinishOnce(NotRun(*context_));
        return;
      }
      absl::StatusOr<v1::SubmitResponse> r =
          service_->core_->Submit(principal_, request_);
      if (!r.ok()) {
        FinishOnce(ToGrpcStatus(r.status()));
        return;
      }
      response_ = *std::move(r);
      StartWrite(&response_);
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED,
                              "writing a response failed (client gone)"));
      return;
    }
    ArmAndRead();
  }

  void OnDone() override {
    // Returns at once when OnDone runs inside Expire's Finish.
    service_->watchdog_.Remove(TakeTimer());
    ReleaseSlot();
    delete this;
  }

 private:
  enum class State { kArming, kReading, kWorking, kDone };
  using Clock = DeadlineWatchdog::Clock;

  DeadlineWatchdog::Id TakeTimer() {
    std::lock_guard<std::mutex> lock(mu_);
    const DeadlineWatchdog::Id timer = timer_;
    timer_ = 0;
    return timer;
  }

  // The stream no longer counts against max_submit_streams: before the
  // status is sent, so a client that sees it may open another at once.
  void ReleaseSlot() {
    if (!slot_released_.exchange(true)) service_->submit_streams_.fetch_sub(1);
  }

  void FinishOnce(const grpc::Status& status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_ = State::kDone;
    }
    ReleaseSlot();
    Finish(status);
  }

  // Sets the idle deadline and starts the next read (see the class
  // comment).
  void ArmAndRead() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_ = State::kArming;
      expired_while_arming_ = false;
      deadline_ = Clock::now() + std::chrono::milliseconds(
                                     service_->options_.stream_idle_timeout_ms);
      timer_ = service_->watchdog_.Add(deadline_, [this] { Expire(); });
    }
    StartRead(&request_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kArming) return;  // The read completed already.
      if (!expired_while_arming_) {
        state_ = State::kReading;
        return;
      }
      state_ = State::kDone;
    }
    FinishIdle();
  }

  // On the watchdog thread once deadline_ passed.
  void Expire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (Clock::now() < deadline_) return;  // A newer deadline is armed.
      if (state_ == State::kArming) {
        expired_while_arming_ = true;
        return;
      }
      if (state_ != State::kReading) return;
      state_ = State::kDone;
    }
    FinishIdle();
  }

  // Finish may run OnDone (deleting this) before it returns.
  // REQUIRES: this thread set state_ to kDone from kReading or kArming.
  void FinishIdle() {
    const IngestServiceOptions& options = service_->options_;
    if (options.on_stream_timeout) {
      options.on_stream_timeout("SubmitStream", "idle");
    }
    ReleaseSlot();
    Finish(
        grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                     absl::StrCat("no SubmitStream request for ",
                                  options.stream_idle_timeout_ms / 1000.0,
                                  " s (limit --stream_idle_timeout_seconds)")));
  }

  IngestServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  v1::Principal principal_;
  v1::SubmitRequest request_;
  v1::SubmitResponse response_;
  std::atomic<bool> slot_released_{false};
  std::mutex mu_;
  State state_ = State::kWorking;      // GUARDED_BY(mu_)
  bool expired_while_arming_ = false;  // GUARDED_BY(mu_)
  Clock::time_point deadline_;         // GUARDED_BY(mu_)
  DeadlineWatchdog::Id timer_ = 0;     // GUARDED_BY(mu_)
};

grpc::ServerBidiReactor<v1::SubmitRequest, v1::SubmitResponse>*
IngestServiceImpl::SubmitStream(grpc::CallbackServerContext* context) {
  return new SubmitStreamReactor(this, context);
}

// ---------------------------------------------------------------------------
// ExportEntries

class IngestServiceImpl::ExportReactor
    : public grpc::ServerWriteReactor<v1::Entry> {
 public:
  ExportReactor(IngestServiceImpl* service,
                grpc::CallbackServerContext* context,
                const v1::ExportEntriesRequest* request)
      : service_(service), context_(context) {
    const int open = service_->exports_.fetch_add(1) + 1;
    absl::StatusOr<v1::Principal> who =
        Authorize(service_->authenticator_, CredentialsOf(*context),
                  IngestRpc::kExportEntries);
    if (!who.ok()) {
      Finish(ToGrpcStatus(who.status()));
      return;
    }
    if (open > service_->options_.max_exports) {
      Finish(TooMany("exports", service_->options_.max_exports));
      return;
    }
    request_ = *request;
    service_->pool_->Submit([this] { Start(); });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                          "writing an entry failed (client gone)"));
      return;
    }
    WriteNext();
  }

  void OnDone() override {
    service_->exports_.fetch_sub(1);
    delete this;
  }

 private:
  // On the pool.
  void Start() {
    absl::StatusOr<std::unique_ptr<EntryExport>> e =
        service_->core_->StartExport(request_);
    if (!e.ok()) {
      Finish(ToGrpcStatus(e.status()));
      return;
    }
    export_ = *std::move(e);
    Fill();
  }

  // On the pool, with no write in flight: reads the next chunk.
  void Fill() {
    if (context_->IsCancelled()) {
      Finish(NotRun(*context_));
      return;
    }
    chunk_.clear();
    next_ = 0;
    const size_t want = std::max<size_t>(1, service_->options_.export_chunk);
    while (chunk_.size() < want) {
      absl::StatusOr<std::optional<v1::Entry>> r = export_->Next();
      if (!r.ok()) {
        Finish(ToGrpcStatus(r.status()));
        return;
      }
      if (!r->has_value()) {
        at_end_ = true;
        break;
      }
      chunk_.push_back(**std::move(r));
    }
    WriteNext();
  }

  // Writes the next entry of the chunk, or fetches the next chunk, or
  // finishes.
  void WriteNext() {
    if (next_ < chunk_.size()) {
      StartWrite(&chunk_[next_++]);
      return;
    }
    if (at_end_) {
      Finish(grpc::Status::OK);
      return;
    }
    service_->pool_->Submit([this] { Fill(); });
  }

  IngestServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  v1::ExportEntriesRequest request_;
  std::unique_ptr<EntryExport> export_;
  std::vector<v1::Entry> chunk_;
  size_t next_ = 0;
  bool at_end_ = false;
};

grpc::ServerWriteReactor<v1::Entry>* IngestServiceImpl::ExportEntries(
    grpc::CallbackServerContext* context,
    const v1::ExportEntriesRequest* request) {
  return new ExportReactor(this, context, request);
}

}  // namespace ingest
}  // namespace hashmatch
