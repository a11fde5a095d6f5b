// Fuzzes the IngestService request handlers in process: IngestCore (every
// rule of ingest.proto's IngestService; ingest_service.cc only adapts it to
// gRPC) over a real HashStore in a scratch directory, with quorum 2, an
// audit sink that records events, and small media limits (1 MP images,
// 16 JPEG scans, 100 ms; 640x480 video decoded for 150 ms; at most
// kMaxMediaPerProgram images and videos per input, so that a program stays
// well under libFuzzer's -timeout=1 and a timeout means a limit did not
// hold).
//
// Each input is a program. Opening a RocksDB store costs about half a
// second, so one store serves the whole process; programs are kept apart
// instead: each starts by submitting agency-b's two entries (a PDQ hash and
// a video), refers to entries by ids relative to the first of them (entry
// id N in a request means the program's N-th entry; ids over 1000 are kept
// as sent), and ends by retracting every entry it left live, so that no
// later program sees them (retracted entries neither match, nor endorse, nor
// keep an external key). A program is up to 8 calls, each: one byte (bits
// 0-2 the RPC: Submit, Retract, Confirm, Dispute, ResolveDispute, GetEntry,
// ListEntries, ExportEntries; bits 3-4 the caller: agency-a (may submit
// media), agency-b, platform-p, admin-x), two bytes of big-endian length,
// then that many bytes of the serialized request. A call whose caller lacks
// the RPC's role (authz.h's table) is skipped, as the service refuses it.
//
// Checks after each call: errors have the codes ingest.proto documents
// (never INTERNAL, DATA_LOSS or UNAVAILABLE); a committed change returns
// entries that the store holds as returned; then, over the program's
// entries: ACTIVE entries have at least quorum distinct endorsers (the
// submitter first) and PENDING ones fewer, retraction is set exactly on
// RETRACTED entries, disputes stay within the limit; and the audit sink
// received exactly one event per store change of the program, in sequence
// order. ListEntries pages are in id order, within the page size and the
// filter, and their next_page_token is accepted; ExportEntries yields
// entries in id order, within the filter, as the store holds them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_util.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "index/store/hash_store.h"
#include "src/hashlist/hash_list_format.h"
#include "src/ingest/audit_sink.h"
#include "src/ingest/authz.h"
#include "src/ingest/ingest_core.h"

namespace hashmatch {
namespace ingest {
namespace {

using google::protobuf::util::MessageDifferencer;

constexpr int kQuorum = 2;
constexpr int kMaxCalls = 8;
constexpr int kMaxMediaPerProgram = 2;

// Counts the appended events and checks that their store sequences follow
// each other (events without a store change, sequence 0, excepted).
class RecordingSink : public AuditSink {
 public:
  absl::Status Append(absl::Span<const AuditEvent> events) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const AuditEvent& e : events) {
      ++count_;
      if (e.store_sequence == 0) continue;
      FUZZ_CHECK(e.store_sequence == last_sequence_ + 1)
          << "audit event for store sequence " << e.store_sequence << " after "
          << last_sequence_;
      last_sequence_ = e.store_sequence;
    }
    return absl::OkStatus();
  }
  // Store changes made without the core (a program's cleanup) have no
  // events: the next event follows `sequence`.
  void Rebase(uint64_t sequence) {
    std::lock_guard<std::mutex> lock(mu_);
    last_sequence_ = sequence;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  uint64_t last_sequence() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_sequence_;
  }

 private:
  std::mutex mu_;
  size_t count_ = 0;
  uint64_t last_sequence_ = 0;
};

v1::Principal MakePrincipal(const std::string& name, v1::Role role,
                            bool media) {
  v1::Principal p;
  p.set_name(name);
  p.add_roles(role);
  p.set_may_submit_media(media);
  return p;
}

const std::vector<v1::Principal>& Callers() {
  static const auto* callers = new std::vector<v1::Principal>{
      MakePrincipal("agency-a", v1::ROLE_AGENCY, true),
      MakePrincipal("agency-b", v1::ROLE_AGENCY, false),
      MakePrincipal("platform-p", v1::ROLE_PLATFORM, false),
      MakePrincipal("admin-x", v1::ROLE_ADMIN, false)};
  return *callers;
}

IngestOptions Options() {
  IngestOptions o;
  o.quorum = kQuorum;
  o.max_batch = 8;
  o.max_disputes_per_entry = 4;
  o.default_page_size = 3;
  o.max_page_size = 10;
  o.max_scanned_per_page = 20;
  o.allow_platform_suspend = true;
  o.image_decode.max_encoded_bytes = 1 << 20;
  o.image_decode.max_pixels = 1 << 20;
  o.image_decode.max_jpeg_scans = 16;
  o.image_decode.max_decode_ms = 100;
  o.max_video_frames = 64;
  o.video_hash.decode.max_bytes = 1 << 20;
  o.video_hash.decode.max_duration_seconds = 60;
  o.video_hash.decode.max_frames = 600;
  o.video_hash.decode.max_width = 640;
  o.video_hash.decode.max_height = 480;
  o.video_hash.decode.max_pixels = 640 * 480;
  o.video_hash.decode.max_decode_seconds = 0.15;
  o.page_token_key = "hashmatch ingest fuzzing page key";
  int64_t now = 1'700'000'000'000'000;
  o.now_micros = [now]() mutable { return now += 1000; };
  return o;
}

bool IsRole(IngestRpc rpc, const v1::Principal& p) {
  for (v1::Role r : AllowedRoles(rpc)) {
    if (HasRole(p, r)) return true;
  }
  return false;
}

void CheckError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDeadlineExceeded:
      break;
    default:
      FUZZ_CHECK(false) << "undocumented error: " << s;
  }
  // Messages may quote what the caller sent (an agency name, an external
  // id): the server's JSON log escapes them, so no check on their bytes.
  FUZZ_CHECK(!s.message().empty());
}

// Where the stores live (made once, before any background thread).
const std::string& StoresDir() {
  static const std::string* dir =
      new std::string(fuzz::ScratchDir("ingest_service"));
  return *dir;
}

// The store, audit sink and core shared by the programs.
struct Fixture {
  std::string dir;
  RecordingSink sink;
  std::unique_ptr<HashStore> store;
  std::unique_ptr<IngestCore> core;
};

Fixture* MakeFixture() {
  static std::atomic<int> made{0};
  auto* f = new Fixture();
  f->dir = absl::StrCat(StoresDir(), "/", made++);
  StoreOptions so;
  so.sync = false;
  int64_t now = 1'700'000'000'000'000;
  so.now_micros = [now]() mutable { return now += 1000; };
  absl::StatusOr<std::unique_ptr<HashStore>> store =
      HashStore::Open(so, f->dir);
  FUZZ_CHECK(store.ok()) << store.status();
  f->store = *std::move(store);
  f->core = std::make_unique<IngestCore>(Options(), f->store.get(), &f->sink);
  return f;
}

// Retracted rows leave RocksDB deletion markers that every lookup of the
// same hash prefix skips (each program submits agency-b's hash again), so
// a store serves kProgramsPerStore programs and is then replaced by one
// prepared on a background thread meanwhile (an input never waits for an
// open).
constexpr int kProgramsPerStore = 300;

class FixturePool {
 public:
  FixturePool() : current_(MakeFixture()) {}

  // Waits for the background work. Runs at exit (registered after RocksDB's
  // static option tables were built, so before they are destroyed).
  void Drain() {
    if (next_.valid()) delete next_.get();
    if (retired_.valid()) retired_.get();
  }

  Fixture& ForNextProgram() {
    if (++programs_ >= kProgramsPerStore && !next_.valid()) {
      next_ = std::async(std::launch::async, MakeFixture);
    }
    if (next_.valid() &&
        next_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      if (retired_.valid()) retired_.get();
      Fixture* old = current_.release();
      current_.reset(next_.get());
      programs_ = 0;
      retired_ = std::async(std::launch::async, [old] {
        std::string dir = old->dir;
        delete old;
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
      });
    }
    return *current_;
  }

 private:
  std::unique_ptr<Fixture> current_;
  std::future<Fixture*> next_;
  std::future<void> retired_;
  int programs_ = 0;
};

FixturePool& Pool() {
  static FixturePool* pool = new FixturePool();
  return *pool;
}

class Program {
 public:
  explicit Program(Fixture& f)
      : store_(f.store.get()), core_(f.core.get()), sink_(&f.sink) {
    sequence_at_start_ = store_->LastSequence();
    sink_->Rebase(sequence_at_start_);
    events_at_start_ = sink_->count();
    // agency-b's PDQ hash and video, for confirmations and disputes: the
    // program's entries 1 and 2.
    v1::SubmitRequest seed;
    v1::Submission* s = seed.add_submissions();
    s->set_external_id("b-pdq");
    s->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    s->mutable_hash()->set_hex(std::string(64, 'a'));
    s = seed.add_submissions();
    s->set_external_id("b-video");
    for (int i = 0; i < 2; ++i) {
      v1::VideoFrame* f = s->mutable_video_hashes()->add_frames();
      f->set_pdq(std::string(32, static_cast<char>(0x5a + i)));
      f->set_quality(80);
      f->set_frame_number(i);
      f->set_timestamp_seconds(i);
    }
    absl::StatusOr<v1::SubmitResponse> r = core_->Submit(Callers()[1], seed);
    FUZZ_CHECK(r.ok()) << r.status();
    FUZZ_CHECK(r->entries_size() == 2);
    base_id_ = r->entries(0).id() - 1;
    last_id_ = r->entries(1).id();
    CheckStore();
  }

  // Retracts what the program left live, so that later programs do not
  // see it.
  ~Program() {
    for (const v1::Entry& e : ProgramEntries()) {
      if (e.state() == v1::VETTING_STATE_RETRACTED) continue;
      absl::StatusOr<v1::Entry> r =
          store_->Retract(e.id(), "fuzzer", "end of the program");
      FUZZ_CHECK(r.ok()) << r.status();
    }
  }

  void Call(int op, const v1::Principal& caller, absl::string_view bytes) {
    const auto parse = [&](google::protobuf::Message* m) {
      return m->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
    };
    switch (op) {
      case 0: {
        v1::SubmitRequest req;
        if (!IsRole(IngestRpc::kSubmit, caller) || !parse(&req)) return;
        for (const v1::Submission& s : req.submissions()) {
          if (s.has_image() || s.has_video()) ++media_;
        }
        if (media_ > kMaxMediaPerProgram) return;
        absl::StatusOr<v1::SubmitResponse> r = core_->Submit(caller, req);
        if (!r.ok()) return CheckError(r.status());
        FUZZ_CHECK(r->entries_size() > 0);
        for (const v1::Entry& e : r->entries()) {
          FUZZ_CHECK(e.source_agency() == caller.name()) << e.source_agency();
          CheckStored(e);
          last_id_ = std::max(last_id_, e.id());
        }
        return;
      }
      case 1: {
        v1::RetractRequest req;
        if (!IsRole(IngestRpc::kRetract, caller) || !parse(&req)) return;
        req.set_entry_id(MapId(req.entry_id()));
        absl::StatusOr<v1::RetractResponse> r = core_->Retract(caller, req);
        if (!r.ok()) return CheckError(r.status());
        FUZZ_CHECK(r->entry().state() == v1::VETTING_STATE_RETRACTED);
        FUZZ_CHECK(r->entry().id() == req.entry_id());
        CheckStored(r->entry());
        return;
      }
      case 2: {
        v1::ConfirmRequest req;
        if (!IsRole(IngestRpc::kConfirm, caller) || !parse(&req)) return;
        req.set_entry_id(MapId(req.entry_id()));
        absl::StatusOr<v1::ConfirmResponse> r = core_->Confirm(caller, req);
        if (!r.ok()) return CheckError(r.status());
        FUZZ_CHECK(r->entry().source_agency() != caller.name());
        FUZZ_CHECK(r->entry().id() == req.entry_id());
        CheckStored(r->entry());
        return;
      }
      case 3: {
        v1::DisputeRequest req;
        if (!IsRole(IngestRpc::kDispute, caller) || !parse(&req)) return;
        req.set_entry_id(MapId(req.entry_id()));
        absl::StatusOr<v1::DisputeResponse> r = core_->Dispute(caller, req);
        if (!r.ok()) return CheckError(r.status());
        FUZZ_CHECK(r->entry().id() == req.entry_id());
        CheckStored(r->entry());
        return;
      }
      case 4: {
        v1::ResolveDisputeRequest req;
        if (!IsRole(IngestRpc::kResolveDispute, caller) || !parse(&req)) {
          return;
        }
        req.set_entry_id(MapId(req.entry_id()));
        absl::StatusOr<v1::ResolveDisputeResponse> r =
            core_->ResolveDispute(caller, req);
        if (!r.ok()) return CheckError(r.status());
        FUZZ_CHECK(r->entry().id() == req.entry_id());
        CheckStored(r->entry());
        return;
      }
      case 5: {
        v1::GetEntryRequest req;
        if (!IsRole(IngestRpc::kGetEntry, caller) || !parse(&req)) return;
        if (req.has_entry_id()) req.set_entry_id(MapId(req.entry_id()));
        absl::StatusOr<v1::Entry> r = core_->GetEntry(req);
        if (!r.ok()) return CheckError(r.status());
        if (req.has_entry_id()) FUZZ_CHECK(r->id() == req.entry_id());
        if (req.has_external()) {
          FUZZ_CHECK(r->source_agency() == req.external().agency() &&
                     r->external_id() == req.external().external_id());
        }
        CheckStored(*r);
        return;
      }
      case 6: {
        v1::ListEntriesRequest req;
        if (!IsRole(IngestRpc::kListEntries, caller) || !parse(&req)) return;
        List(req);
        return;
      }
      default: {
        v1::ExportEntriesRequest req;
        if (!IsRole(IngestRpc::kExportEntries, caller) || !parse(&req)) return;
        Export(req);
        return;
      }
    }
  }

  // Invariants over the program's entries and audit events, after every
  // call.
  void CheckStore() {
    for (const v1::Entry& e : ProgramEntries()) {
      const int endorsers = DistinctEndorsers(e);
      if (e.state() == v1::VETTING_STATE_ACTIVE) {
        FUZZ_CHECK(endorsers >= kQuorum)
            << "ACTIVE entry " << e.id() << " with " << endorsers
            << " endorsers";
      }
      if (e.state() == v1::VETTING_STATE_PENDING) {
        FUZZ_CHECK(endorsers < kQuorum)
            << "PENDING entry " << e.id() << " with " << endorsers
            << " endorsers";
      }
      FUZZ_CHECK((e.state() == v1::VETTING_STATE_RETRACTED) ==
                 e.has_retraction())
          << e.id();
      FUZZ_CHECK(e.disputes_size() <=
                 static_cast<int>(core_->options().max_disputes_per_entry))
          << e.disputes_size();
      FUZZ_CHECK(e.endorsements_size() == 0 ||
                 e.endorsements(0).agency() == e.source_agency())
          << "entry " << e.id() << " endorsed first by "
          << e.endorsements(0).agency();
    }
    const uint64_t changes = store_->LastSequence() - sequence_at_start_;
    const size_t events = sink_->count() - events_at_start_;
    FUZZ_CHECK(events == changes)
        << events << " audit events for " << changes << " store changes";
    FUZZ_CHECK(sink_->last_sequence() == store_->LastSequence())
        << "last audited change " << sink_->last_sequence() << " of "
        << store_->LastSequence();
  }

 private:
  // Entry id N of a request is the program's N-th entry.
  uint64_t MapId(uint64_t id) const {
    return id >= 1 && id <= 1000 ? base_id_ + id : id;
  }

  // The entries the program created (only Submit creates entries, and it
  // returns them), read one by one: a scan would allocate RocksDB's 2 MiB
  // read-ahead per call.
  std::vector<v1::Entry> ProgramEntries() {
    std::vector<v1::Entry> out;
    for (uint64_t id = base_id_ + 1; id <= last_id_; ++id) {
      absl::StatusOr<v1::Entry> e = store_->Get(id);
      FUZZ_CHECK(e.ok()) << "entry " << id << ": " << e.status();
      out.push_back(*std::move(e));
    }
    absl::StatusOr<v1::Entry> next = store_->Get(last_id_ + 1);
    FUZZ_CHECK(next.status().code() == absl::StatusCode::kNotFound)
        << "entry " << last_id_ + 1 << " exists but no call returned it";
    return out;
  }

  void CheckStored(const v1::Entry& e) {
    FUZZ_CHECK(e.id() != 0);
    FUZZ_CHECK(HashLengthForSignal(e.signal_type()) == e.hash().size())
        << e.signal_type() << " " << e.hash().size();
    absl::StatusOr<v1::Entry> stored = store_->Get(e.id());
    FUZZ_CHECK(stored.ok()) << stored.status();
    FUZZ_CHECK(MessageDifferencer::Equals(*stored, e))
        << "returned:\n"
        << e.DebugString() << "stored:\n"
        << stored->DebugString();
  }

  void List(v1::ListEntriesRequest req) {
    const int page_size = req.page_size() == 0
                              ? core_->options().default_page_size
                              : req.page_size();
    uint64_t last_id = 0;
    for (int page = 0; page < 4; ++page) {
      absl::StatusOr<v1::ListEntriesResponse> r = core_->ListEntries(req);
      if (!r.ok()) {
        FUZZ_CHECK(page == 0)
            << "a next_page_token was refused: " << r.status();
        return CheckError(r.status());
      }
      FUZZ_CHECK(r->entries_size() <= page_size) << r->entries_size();
      for (const v1::Entry& e : r->entries()) {
        FUZZ_CHECK(e.id() > last_id) << e.id() << " after " << last_id;
        last_id = e.id();
        FUZZ_CHECK(EntryMatchesFilter(req.filter(), e)) << e.id();
      }
      if (r->next_page_token().empty()) return;
      req.set_page_token(r->next_page_token());
    }
  }

  // The first entries of an export (the whole store would grow with the
  // campaign).
  void Export(const v1::ExportEntriesRequest& req) {
    absl::StatusOr<std::unique_ptr<EntryExport>> x = core_->StartExport(req);
    if (!x.ok()) return CheckError(x.status());
    uint64_t last_id = 0;
    for (int i = 0; i < 16; ++i) {
      absl::StatusOr<std::optional<v1::Entry>> e = (*x)->Next();
      FUZZ_CHECK(e.ok()) << e.status();
      if (!e->has_value()) break;
      const v1::Entry& entry = **e;
      FUZZ_CHECK(entry.id() > last_id) << entry.id() << " after " << last_id;
      last_id = entry.id();
      FUZZ_CHECK(EntryMatchesFilter(req.filter(), entry)) << entry.id();
      FUZZ_CHECK((*x)->sequence() <= store_->LastSequence());
    }
  }

  HashStore* const store_;
  IngestCore* const core_;
  RecordingSink* const sink_;
  uint64_t base_id_ = 0;
  uint64_t last_id_ = 0;  // The highest id a Submit of the program returned.
  uint64_t sequence_at_start_ = 0;
  size_t events_at_start_ = 0;
  int media_ = 0;  // Images and videos submitted (or skipped) so far.
};

void Run(absl::string_view input) {
  Program program(Pool().ForNextProgram());
  for (int call = 0; call < kMaxCalls && input.size() >= 3; ++call) {
    const auto op_byte = static_cast<uint8_t>(input[0]);
    const size_t len =
        (static_cast<size_t>(static_cast<uint8_t>(input[1])) << 8) |
        static_cast<uint8_t>(input[2]);
    input.remove_prefix(3);
    const absl::string_view bytes = input.substr(0, len);
    input.remove_prefix(bytes.size());
    program.Call(op_byte & 7, Callers()[(op_byte >> 3) & 3], bytes);
    program.CheckStore();
  }
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch

// The store is opened before the first input (not timed by -timeout).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Invalid UTF-8 in string fields makes protobuf log each failed parse.
  google::protobuf::SetLogHandler(nullptr);
  hashmatch::ingest::StoresDir();
  hashmatch::ingest::Pool();
  std::atexit([] { hashmatch::ingest::Pool().Drain(); });
  // One program before the first input: the first calls initialise
  // libraries lazily (half a second under load).
  hashmatch::ingest::Run("");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashmatch::ingest::Run(hashmatch::fuzz::AsView(data, size));
  return 0;
}
