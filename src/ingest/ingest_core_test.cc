#include "src/ingest/ingest_core.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/common/file_util.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/crypto_hash.h"
#include "src/hashing/image_hasher.h"
#include "src/match/demo_seed.h"

namespace hashmatch {
namespace ingest {
namespace {

using v1::Entry;

// Records every appended event; can be told to fail.
class FakeAuditSink : public AuditSink {
 public:
  absl::Status Append(absl::Span<const AuditEvent> events) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_) return absl::UnavailableError("audit disk full");
    ++calls_;
    events_.insert(events_.end(), events.begin(), events.end());
    return absl::OkStatus();
  }
  std::vector<AuditEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  void set_fail(bool fail) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = fail;
  }

 private:
  std::mutex mu_;
  bool fail_ = false;
  int calls_ = 0;
  std::vector<AuditEvent> events_;
};

// Delegates to a real store; Retract can be made to fail once (a crash
// between the two writes of an upheld resolution).
class FlakyStore : public HashStore {
 public:
  explicit FlakyStore(std::unique_ptr<HashStore> inner)
      : inner_(std::move(inner)) {}
  absl::StatusOr<std::vector<Entry>> Put(
      absl::Span<const Entry> entries) override {
    return inner_->Put(entries);
  }
  absl::StatusOr<Entry> Retract(uint64_t id, absl::string_view by,
                                absl::string_view reason) override {
    if (fail_next_retract_) {
      fail_next_retract_ = false;
      return absl::UnavailableError("injected: process died");
    }
    return inner_->Retract(id, by, reason);
  }
  absl::StatusOr<Entry> Get(uint64_t id) const override {
    return inner_->Get(id);
  }
  absl::StatusOr<uint64_t> FindExternal(
      absl::string_view agency, absl::string_view external_id) const override {
    return inner_->FindExternal(agency, external_id);
  }
  absl::StatusOr<std::vector<Entry>> LookupHash(
      v1::SignalType signal_type, absl::string_view hash) const override {
    return inner_->LookupHash(signal_type, hash);
  }
  absl::StatusOr<uint64_t> ForEachActive(
      v1::SignalType signal_type,
      const ActiveCallback& callback) const override {
    return inner_->ForEachActive(signal_type, callback);
  }
  absl::StatusOr<uint64_t> ForEachEntry(
      uint64_t after_id, const EntryCallback& callback) const override {
    return inner_->ForEachEntry(after_id, callback);
  }
  absl::StatusOr<std::vector<v1::Change>> ChangesSince(
      uint64_t after, size_t limit) const override {
    return inner_->ChangesSince(after, limit);
  }
  uint64_t LastSequence() const override { return inner_->LastSequence(); }
  absl::StatusOr<StoreStats> Stats() const override { return inner_->Stats(); }
  absl::StatusOr<std::unique_ptr<EntryCursor>> NewEntryCursor(
      uint64_t after_id) const override {
    return inner_->NewEntryCursor(after_id);
  }
  absl::StatusOr<StoreDigest> Digest() const override {
    return inner_->Digest();
  }
  absl::Status ApplyChanges(absl::Span<const v1::Change> changes) override {
    return inner_->ApplyChanges(changes);
  }
  absl::Status BeginSnapshot(uint64_t sequence) override {
    return inner_->BeginSnapshot(sequence);
  }
  absl::Status AddSnapshotEntries(absl::Span<const Entry> entries) override {
    return inner_->AddSnapshotEntries(entries);
  }
  absl::Status FinishSnapshot(uint64_t sequence,
                              uint64_t entry_count) override {
    return inner_->FinishSnapshot(sequence, entry_count);
  }

  bool fail_next_retract_ = false;

 private:
  std::unique_ptr<HashStore> inner_;
};

v1::Principal Agency(const std::string& name, bool media = false) {
  v1::Principal p;
  p.set_name(name);
  p.add_roles(v1::ROLE_AGENCY);
  p.set_may_submit_media(media);
  return p;
}

v1::Principal WithRole(const std::string& name, v1::Role role) {
  v1::Principal p;
  p.set_name(name);
  p.add_roles(role);
  return p;
}

std::string Pdq(int seed) {
  std::string h(32, '\0');
  for (size_t i = 0; i < h.size(); ++i) {
    h[i] = static_cast<char>((seed * 131 + static_cast<int>(i) * 7) & 0xff);
  }
  return h;
}

v1::Submission HashSub(const std::string& ext, const std::string& raw,
                       v1::SignalType signal = v1::SIGNAL_TYPE_PDQ) {
  v1::Submission s;
  s.set_external_id(ext);
  s.mutable_hash()->set_signal_type(signal);
  s.mutable_hash()->set_raw(raw);
  s.set_classification("A1");
  return s;
}

v1::SubmitRequest Req(std::vector<v1::Submission> subs) {
  v1::SubmitRequest r;
  for (auto& s : subs) *r.add_submissions() = std::move(s);
  return r;
}

std::vector<std::string> Agencies(const Entry& e) {
  std::vector<std::string> out;
  for (const auto& en : e.endorsements()) out.push_back(en.agency());
  return out;
}

Entry Parse(const std::string& bytes) {
  Entry e;
  EXPECT_TRUE(e.ParseFromString(bytes));
  return e;
}

class IngestCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat(
               "ingest_core_test_", ::getpid(), "_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Open(IngestOptions());
  }
  void TearDown() override {
    core_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // (Re)creates the core with `options` over the same store.
  void Open(IngestOptions options) {
    core_.reset();
    if (store_ == nullptr) {
      StoreOptions so;
      so.sync = false;
      so.now_micros = [this] { return now_.load(); };
      absl::StatusOr<std::unique_ptr<HashStore>> s =
          HashStore::Open(so, (dir_ / "store").string());
      ASSERT_TRUE(s.ok()) << s.status();
      store_ = std::make_unique<FlakyStore>(*std::move(s));
    }
    options.now_micros = [this] { return now_.load(); };
    ASSERT_TRUE(IngestCore::ValidateOptions(options).ok());
    core_ = std::make_unique<IngestCore>(options, store_.get(), &audit_);
  }

  IngestOptions Quorum(int k) {
    IngestOptions o;
    o.quorum = k;
    return o;
  }

  Entry SubmitOne(const v1::Principal& who, const std::string& ext,
                  const std::string& raw) {
    absl::StatusOr<v1::SubmitResponse> r =
        core_->Submit(who, Req({HashSub(ext, raw)}));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->entries_size() != 1) return Entry();
    return r->entries(0);
  }

  Entry Stored(uint64_t id) {
    absl::StatusOr<Entry> e = store_->Get(id);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : Entry();
  }

  absl::StatusCode DisputeCode(uint64_t id, bool suspend) {
    v1::DisputeRequest d;
    d.set_entry_id(id);
    d.set_reason("matched a holiday photo");
    d.set_content_ref("upload-17");
    d.set_suspend(suspend);
    return core_->Dispute(WithRole("platform-x", v1::ROLE_PLATFORM), d)
        .status()
        .code();
  }

  absl::StatusOr<v1::ResolveDisputeResponse> Resolve(
      const v1::Principal& who, uint64_t id, bool upheld,
      const std::string& resolution = "reviewed by two analysts") {
    v1::ResolveDisputeRequest r;
    r.set_entry_id(id);
    r.set_outcome(upheld ? v1::ResolveDisputeRequest::OUTCOME_UPHELD
                         : v1::ResolveDisputeRequest::OUTCOME_REJECTED);
    r.set_resolution(resolution);
    return core_->ResolveDispute(who, r);
  }

  std::filesystem::path dir_;
  std::atomic<int64_t> now_{1'700'000'000'000'000};
  std::unique_ptr<FlakyStore> store_;
  FakeAuditSink audit_;
  std::unique_ptr<IngestCore> core_;
  const v1::Principal a_ = Agency("hotline-a");
  const v1::Principal b_ = Agency("police-b");
  const v1::Principal c_ = Agency("hotline-c");
};

TEST_F(IngestCoreTest, SubmitRawAndHexWithQuorumOneIsActiveAndAudited) {
  v1::Submission hex = HashSub("case-2", "", v1::SIGNAL_TYPE_MD5);
  hex.mutable_hash()->clear_raw();
  hex.mutable_hash()->set_hex("00112233445566778899aabbccddeeff");
  hex.set_note("from the 2026 sweep");
  v1::Submission raw = HashSub("case-1", Pdq(1));
  raw.mutable_hash()->set_quality(90);
  absl::StatusOr<v1::SubmitResponse> r = core_->Submit(a_, Req({raw, hex}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->entries_size(), 2);
  EXPECT_EQ(r->sequence(), 2u);
  const Entry& p = r->entries(0);
  EXPECT_EQ(p.state(), v1::VETTING_STATE_ACTIVE);
  EXPECT_EQ(p.hash(), Pdq(1));
  EXPECT_EQ(p.quality(), 90);
  EXPECT_EQ(p.source_agency(), "hotline-a");
  EXPECT_EQ(p.external_id(), "case-1");
  EXPECT_EQ(p.classification(), "A1");
  EXPECT_EQ(Agencies(p), std::vector<std::string>{"hotline-a"});
  EXPECT_EQ(p.endorsements(0).at_micros(), now_.load());
  const Entry& m = r->entries(1);
  EXPECT_EQ(m.signal_type(), v1::SIGNAL_TYPE_MD5);
  EXPECT_EQ(BytesToHex(m.hash()), "00112233445566778899aabbccddeeff");
  EXPECT_EQ(m.note(), "from the 2026 sweep");

  std::vector<AuditEvent> ev = audit_.events();
  ASSERT_EQ(ev.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(ev[i].actor, "hotline-a");
    EXPECT_EQ(ev[i].action, "submit");
    EXPECT_EQ(ev[i].target, absl::StrCat("entry:", r->entries(i).id()));
    EXPECT_TRUE(ev[i].state_before.empty());
    EXPECT_EQ(Parse(ev[i].state_after).SerializeAsString(),
              r->entries(i).SerializeAsString());
    EXPECT_EQ(ev[i].store_sequence, i + 1);
  }
  // The store agrees with the response.
  EXPECT_EQ(Stored(p.id()).SerializeAsString(), p.SerializeAsString());
}

TEST_F(IngestCoreTest, QuorumTwoStaysPendingUntilAnotherAgencyConfirms) {
  Open(Quorum(2));
  Entry e = SubmitOne(a_, "case-1", Pdq(1));
  EXPECT_EQ(e.state(), v1::VETTING_STATE_PENDING);

  v1::ConfirmRequest own;
  own.set_entry_id(e.id());
  EXPECT_EQ(core_->Confirm(a_, own).status().code(),
            absl::StatusCode::kPermissionDenied);

  now_ += 1000;
  v1::ConfirmRequest c;
  c.set_entry_id(e.id());
  c.set_note("seen in our case 77");
  absl::StatusOr<v1::ConfirmResponse> r = core_->Confirm(b_, c);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->entry().state(), v1::VETTING_STATE_ACTIVE);
  EXPECT_EQ(Agencies(r->entry()),
            (std::vector<std::string>{"hotline-a", "police-b"}));
  EXPECT_EQ(r->entry().endorsements(1).note(), "seen in our case 77");
  EXPECT_EQ(r->entry().endorsements(1).at_micros(), now_.load());
  EXPECT_EQ(r->sequence(), 2u);
  EXPECT_EQ(Stored(e.id()).state(), v1::VETTING_STATE_ACTIVE);

  EXPECT_EQ(core_->Confirm(b_, c).status().code(),
            absl::StatusCode::kAlreadyExists);
  v1::ConfirmRequest missing;
  missing.set_entry_id(999);
  EXPECT_EQ(core_->Confirm(b_, missing).status().code(),
            absl::StatusCode::kNotFound);

  std::vector<AuditEvent> ev = audit_.events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].actor, "police-b");
  EXPECT_EQ(ev[1].action, "confirm");
  EXPECT_EQ(ev[1].detail, "seen in our case 77");
  EXPECT_EQ(ev[1].store_sequence, 2u);
  EXPECT_EQ(Parse(ev[1].state_before).state(), v1::VETTING_STATE_PENDING);
  EXPECT_EQ(Parse(ev[1].state_after).state(), v1::VETTING_STATE_ACTIVE);
}

TEST_F(IngestCoreTest, QuorumThreeNeedsThreeDistinctAgencies) {
  Open(Quorum(3));
  Entry e = SubmitOne(a_, "case-1", Pdq(1));
  v1::ConfirmRequest c;
  c.set_entry_id(e.id());
  ASSERT_TRUE(core_->Confirm(b_, c).ok());
  EXPECT_EQ(Stored(e.id()).state(), v1::VETTING_STATE_PENDING);
  ASSERT_TRUE(core_->Confirm(c_, c).ok());
  EXPECT_EQ(Stored(e.id()).state(), v1::VETTING_STATE_ACTIVE);
}

TEST_F(IngestCoreTest, IndependentSubmissionEndorsesBothWaysInOneWrite) {
  Open(Quorum(2));
  Entry a = SubmitOne(a_, "a-1", Pdq(5));
  EXPECT_EQ(a.state(), v1::VETTING_STATE_PENDING);
  // The same agency submitting the same hash again does not count twice.
  Entry a2 = SubmitOne(a_, "a-2", Pdq(5));
  EXPECT_EQ(a2.state(), v1::VETTING_STATE_PENDING);
  EXPECT_EQ(Agencies(Stored(a.id())), std::vector<std::string>{"hotline-a"});

  const uint64_t before = store_->LastSequence();
  Entry b = SubmitOne(b_, "b-1", Pdq(5));
  EXPECT_EQ(b.state(), v1::VETTING_STATE_ACTIVE);
  EXPECT_EQ(Agencies(b), (std::vector<std::string>{"police-b", "hotline-a"}));
  for (uint64_t id : {a.id(), a2.id()}) {
    Entry x = Stored(id);
    EXPECT_EQ(x.state(), v1::VETTING_STATE_ACTIVE) << id;
    EXPECT_EQ(Agencies(x), (std::vector<std::string>{"hotline-a", "police-b"}));
  }
  // One Put: b's entry and the two endorsed ones, consecutive sequences.
  EXPECT_EQ(store_->LastSequence(), before + 3);
  std::vector<AuditEvent> ev = audit_.events();
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[2].action, "endorse");
  EXPECT_EQ(ev[2].actor, "police-b");
  EXPECT_EQ(ev[2].target, absl::StrCat("entry:", a.id()));
  EXPECT_EQ(Parse(ev[2].state_before).state(), v1::VETTING_STATE_PENDING);
  EXPECT_EQ(Parse(ev[2].state_after).state(), v1::VETTING_STATE_ACTIVE);
  EXPECT_EQ(ev[3].action, "endorse");
  EXPECT_EQ(ev[4].action, "submit");
  EXPECT_EQ(ev[4].target, absl::StrCat("entry:", b.id()));
  EXPECT_EQ(ev[2].store_sequence + 2, ev[4].store_sequence);

  // A different hash is not endorsed.
  Entry other = SubmitOne(c_, "c-1", Pdq(6));
  EXPECT_EQ(other.state(), v1::VETTING_STATE_PENDING);
}

TEST_F(IngestCoreTest, ResubmissionIsIdempotentByAgencyAndExternalId) {
  Entry e = SubmitOne(a_, "case-1", Pdq(1));
  const uint64_t seq = store_->LastSequence();
  Entry again = SubmitOne(a_, "case-1", Pdq(1));
  EXPECT_EQ(again.id(), e.id());
  EXPECT_EQ(store_->LastSequence(), seq);  // Nothing written.
  EXPECT_EQ(audit_.events().size(), 1u);

  v1::Submission changed = HashSub("case-1", Pdq(1));
  changed.set_note("better note");
  absl::StatusOr<v1::SubmitResponse> r = core_->Submit(a_, Req({changed}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->entries(0).id(), e.id());
  EXPECT_EQ(r->entries(0).note(), "better note");
  EXPECT_EQ(r->sequence(), seq + 1);
  ASSERT_EQ(audit_.events().size(), 2u);
  EXPECT_EQ(audit_.events()[1].detail, "resubmission");
  EXPECT_FALSE(audit_.events()[1].state_before.empty());

  // Another agency's same external id is its own entry.
  EXPECT_NE(SubmitOne(b_, "case-1", Pdq(1)).id(), e.id());

  // A different hash under a live key is refused.
  EXPECT_EQ(core_->Submit(a_, Req({HashSub("case-1", Pdq(2))})).status().code(),
            absl::StatusCode::kAlreadyExists);
  // After a retraction the key names a new entry.
  v1::RetractRequest rr;
  rr.set_entry_id(e.id());
  rr.set_reason("wrong image");
  ASSERT_TRUE(core_->Retract(a_, rr).ok());
  Entry fresh = SubmitOne(a_, "case-1", Pdq(2));
  EXPECT_NE(fresh.id(), e.id());
  EXPECT_EQ(fresh.hash(), Pdq(2));
}

TEST_F(IngestCoreTest, RetractOwnEntriesOnlyWithReason) {
  Entry e = SubmitOne(a_, "case-1", Pdq(1));
  v1::RetractRequest r;
  r.set_entry_id(e.id());
  EXPECT_EQ(core_->Retract(a_, r).status().code(),
            absl::StatusCode::kInvalidArgument);  // No reason.
  r.set_reason("duplicate of case 0");
  absl::Status denied = core_->Retract(b_, r).status();
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find("hotline-a"), std::string::npos) << denied;
  EXPECT_EQ(Stored(e.id()).state(), v1::VETTING_STATE_ACTIVE);

  now_ += 5;
  absl::StatusOr<v1::RetractResponse> ok = core_->Retract(a_, r);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->entry().state(), v1::VETTING_STATE_RETRACTED);
  EXPECT_EQ(ok->entry().retraction().reason(), "duplicate of case 0");
  EXPECT_EQ(ok->entry().retraction().retracted_by(), "hotline-a");
  EXPECT_EQ(ok->entry().retraction().previous_state(),
            v1::VETTING_STATE_ACTIVE);
  EXPECT_EQ(ok->sequence(), 2u);
  std::vector<AuditEvent> ev = audit_.events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].action, "retract");
  EXPECT_EQ(ev[1].detail, "duplicate of case 0");
  EXPECT_EQ(ev[1].store_sequence, 2u);
  EXPECT_EQ(Parse(ev[1].state_after).state(), v1::VETTING_STATE_RETRACTED);

  EXPECT_EQ(core_->Retract(a_, r).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::ConfirmRequest c;
  c.set_entry_id(e.id());
  EXPECT_EQ(core_->Confirm(b_, c).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DisputeCode(e.id(), false), absl::StatusCode::kFailedPrecondition);
  r.set_entry_id(12345);
  EXPECT_EQ(core_->Retract(a_, r).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(audit_.events().size(), 2u);
}

TEST_F(IngestCoreTest, DisputeWithoutSuspendPermissionOnlyFlags) {
  Entry e = SubmitOne(a_, "case-1", Pdq(1));
  ASSERT_EQ(DisputeCode(e.id(), /*suspend=*/true), absl::StatusCode::kOk);
  Entry d = Stored(e.id());
  EXPECT_EQ(d.state(), v1::VETTING_STATE_ACTIVE);
  ASSERT_EQ(d.disputes_size(), 1);
  EXPECT_EQ(d.disputes(0).platform(), "platform-x");
  EXPECT_EQ(d.disputes(0).reason(), "matched a holiday photo");
  EXPECT_EQ(d.disputes(0).content_ref(), "upload-17");
  EXPECT_FALSE(d.disputes(0).suspended());
  EXPECT_EQ(audit_.events().back().action, "dispute");
  EXPECT_EQ(audit_.events().back().actor, "platform-x");
  EXPECT_EQ(audit_.events().back().detail, "matched a holiday photo");

  v1::DisputeRequest no_reason;
  no_reason.set_entry_id(e.id());
  EXPECT_EQ(core_->Dispute(WithRole("p", v1::ROLE_PLATFORM), no_reason)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IngestCoreTest, DisputeWithSuspendThenRejectedGoesBackToActive) {
  IngestOptions o;
  o.allow_platform_suspend = true;
  Open(o);
  Entry e = SubmitOne(a_, "case-1", Pdq(1));
  ASSERT_EQ(DisputeCode(e.id(), true), absl::StatusCode::kOk);
  Entry d = Stored(e.id());
  EXPECT_EQ(d.state(), v1::VETTING_STATE_DISPUTED);
  EXPECT_TRUE(d.disputes(0).suspended());
  // A second dispute without suspend keeps it DISPUTED.
  ASSERT_EQ(DisputeCode(e.id(), false), absl::StatusCode::kOk);

  // Only the owner or an admin resolves.
  EXPECT_EQ(Resolve(b_, e.id(), false).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::ResolveDisputeRequest bad;
  bad.set_entry_id(e.id());
  bad.set_resolution("x");
  EXPECT_EQ(core_->ResolveDispute(a_, bad).status().code(),
            absl::StatusCode::kInvalidArgument);  // No outcome.

  now_ += 77;
  absl::StatusOr<v1::ResolveDisputeResponse> r =
      Resolve(a_, e.id(), false, "the hash is right");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->entry().state(), v1::VETTING_STATE_ACTIVE);
  ASSERT_EQ(r->entry().disputes_size(), 2);
  for (const v1::Dispute& x : r->entry().disputes()) {
    EXPECT_EQ(x.outcome(), "rejected");
    EXPECT_EQ(x.resolved_by(), "hotline-a");
    EXPECT_EQ(x.resolved_at_micros(), now_.load());
    EXPECT_EQ(x.resolution(), "the hash is right");
  }
  EXPECT_EQ(audit_.events().back().action, "resolve_dispute");
  EXPECT_EQ(audit_.events().back().detail, "rejected: the hash is right");
  EXPECT_EQ(Resolve(a_, e.id(), false).status().code(),
            absl::StatusCode::kFailedPrecondition);  // Nothing open.
}

TEST_F(IngestCoreTest, RejectedDisputeBelowQuorumGoesBackToPending) {
  IngestOptions o = Quorum(2);
  o.allow_platform_suspend = true;
  Open(o);
  Entry e = SubmitOne(a_, "case-1", Pdq(1));
  ASSERT_EQ(DisputeCode(e.id(), true), absl::StatusCode::kOk);
  EXPECT_EQ(Stored(e.id()).state(), v1::VETTING_STATE_DISPUTED);
  // An admin may resolve too.
  absl::StatusOr<v1::ResolveDisputeResponse> r =
      Resolve(WithRole("root", v1::ROLE_ADMIN), e.id(), false);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->entry().state(), v1::VETTING_STATE_PENDING);
}

TEST_F(IngestCoreTest, UpheldDisputeRetractsWithTheResolution) {
  Entry e = SubmitOne(a_, "case-1", Pdq(1));
  ASSERT_EQ(DisputeCode(e.id(), false), absl::StatusCode::kOk);
  const size_t events_before = audit_.events().size();
  absl::StatusOr<v1::ResolveDisputeResponse> r =
      Resolve(a_, e.id(), true, "innocent photo, hash removed");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->entry().state(), v1::VETTING_STATE_RETRACTED);
  EXPECT_EQ(r->entry().retraction().reason(), "innocent photo, hash removed");
  EXPECT_EQ(r->entry().retraction().retracted_by(), "hotline-a");
  EXPECT_EQ(r->entry().disputes(0).outcome(), "upheld");
  EXPECT_EQ(r->sequence(), store_->LastSequence());
  std::vector<AuditEvent> ev = audit_.events();
  ASSERT_EQ(ev.size(), events_before + 2);
  EXPECT_EQ(ev[events_before].action, "resolve_dispute");
  EXPECT_EQ(ev[events_before + 1].action, "retract");
  EXPECT_EQ(ev[events_before + 1].detail,
            "upheld: innocent photo, hash removed");
  EXPECT_EQ(ev[events_before + 1].store_sequence, r->sequence());
  EXPECT_EQ(Resolve(a_, e.id(), true).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(IngestCoreTest, UpheldResolutionInterruptedBeforeRetractCompletes) {
  Entry e = SubmitOne(a_, "case-1", Pdq(1));
  ASSERT_EQ(DisputeCode(e.id(), false), absl::StatusCode::kOk);
  store_->fail_next_retract_ = true;
  EXPECT_EQ(Resolve(a_, e.id(), true).status().code(),
            absl::StatusCode::kUnavailable);
  Entry half = Stored(e.id());
  EXPECT_EQ(half.state(), v1::VETTING_STATE_ACTIVE);
  EXPECT_EQ(half.disputes(0).outcome(), "upheld");
  // Rejecting now is refused (nothing open); upholding again completes.
  EXPECT_EQ(Resolve(a_, e.id(), false).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<v1::ResolveDisputeResponse> r = Resolve(a_, e.id(), true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->entry().state(), v1::VETTING_STATE_RETRACTED);
}

TEST_F(IngestCoreTest, ListPagesInIdOrderAndRejectsBadTokens) {
  for (int i = 0; i < 25; ++i) {
    SubmitOne(i % 2 == 0 ? a_ : b_, absl::StrCat("x", i), Pdq(100 + i));
  }
  v1::ListEntriesRequest req;
  req.set_page_size(10);
  std::vector<uint64_t> ids;
  std::string first_token;
  for (int page = 0; page < 10; ++page) {
    absl::StatusOr<v1::ListEntriesResponse> r = core_->ListEntries(req);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const Entry& e : r->entries()) ids.push_back(e.id());
    if (r->next_page_token().empty()) break;
    if (first_token.empty()) first_token = r->next_page_token();
    req.set_page_token(r->next_page_token());
  }
  ASSERT_EQ(ids.size(), 25u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], i + 1);

  // Filtered by agency, default page size.
  v1::ListEntriesRequest by_b;
  by_b.mutable_filter()->set_source_agency("police-b");
  absl::StatusOr<v1::ListEntriesResponse> rb = core_->ListEntries(by_b);
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->entries_size(), 12);
  EXPECT_TRUE(rb->next_page_token().empty());
  for (const Entry& e : rb->entries()) EXPECT_EQ(e.source_agency(), "police-b");

  auto code = [&](const std::string& token) {
    v1::ListEntriesRequest r;
    r.set_page_size(10);
    r.set_page_token(token);
    return core_->ListEntries(r).status().code();
  };
  EXPECT_EQ(code(first_token), absl::StatusCode::kOk);
  EXPECT_EQ(code("not-a-token!"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(first_token.substr(1)), absl::StatusCode::kInvalidArgument);
  // Forged: a different id with the old tag.
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(first_token, &raw));
  raw[8] = static_cast<char>(raw[8] ^ 0x01);
  EXPECT_EQ(code(absl::WebSafeBase64Escape(raw)),
            absl::StatusCode::kInvalidArgument);
  // Issued for another filter.
  v1::ListEntriesRequest other = by_b;
  other.set_page_token(first_token);
  EXPECT_EQ(core_->ListEntries(other).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Issued by another server (another key).
  Open(IngestOptions());
  EXPECT_EQ(code(first_token), absl::StatusCode::kInvalidArgument);

  v1::ListEntriesRequest big;
  big.set_page_size(1001);
  EXPECT_EQ(core_->ListEntries(big).status().code(),
            absl::StatusCode::kInvalidArgument);
  big.set_page_size(-1);
  EXPECT_EQ(core_->ListEntries(big).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::ListEntriesRequest bad_filter;
  bad_filter.mutable_filter()->add_states(v1::VETTING_STATE_UNSPECIFIED);
  EXPECT_EQ(core_->ListEntries(bad_filter).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IngestCoreTest, ListScanLimitGivesShortPagesThatStillCoverAll) {
  IngestOptions o;
  o.max_scanned_per_page = 4;
  o.page_token_key = "fixed key for this test";
  Open(o);
  for (int i = 0; i < 10; ++i) {
    SubmitOne(i == 7 ? b_ : a_, absl::StrCat("x", i), Pdq(i));
  }
  v1::ListEntriesRequest req;
  req.mutable_filter()->set_source_agency("police-b");
  std::vector<uint64_t> ids;
  int pages = 0;
  for (; pages < 10; ++pages) {
    absl::StatusOr<v1::ListEntriesResponse> r = core_->ListEntries(req);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const Entry& e : r->entries()) ids.push_back(e.id());
    if (r->next_page_token().empty()) break;
    req.set_page_token(r->next_page_token());
  }
  EXPECT_EQ(ids, std::vector<uint64_t>{8});
  EXPECT_EQ(pages, 2);  // 4 + 4 + 2 entries read.
  // The key is fixed: a token survives a new core.
  Open(o);
  EXPECT_TRUE(core_->ListEntries(req).ok());
}

TEST_F(IngestCoreTest, GetAndExport) {
  Entry e1 = SubmitOne(a_, "case-1", Pdq(1));
  Entry e2 = SubmitOne(b_, "case-2", Pdq(2));
  v1::RetractRequest rr;
  rr.set_entry_id(e1.id());
  rr.set_reason("r");
  ASSERT_TRUE(core_->Retract(a_, rr).ok());

  v1::GetEntryRequest g;
  g.set_entry_id(e2.id());
  ASSERT_TRUE(core_->GetEntry(g).ok());
  EXPECT_EQ(core_->GetEntry(g)->external_id(), "case-2");
  g.mutable_external()->set_agency("hotline-a");
  g.mutable_external()->set_external_id("case-1");
  EXPECT_EQ(core_->GetEntry(g)->state(), v1::VETTING_STATE_RETRACTED);
  g.mutable_external()->set_external_id("nope");
  EXPECT_EQ(core_->GetEntry(g).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(core_->GetEntry(v1::GetEntryRequest()).status().code(),
            absl::StatusCode::kInvalidArgument);

  std::vector<uint64_t> all;
  ASSERT_TRUE(core_
                  ->ExportEntries(v1::ExportEntriesRequest(),
                                  [&](const Entry& e) {
                                    all.push_back(e.id());
                                    return absl::OkStatus();
                                  })
                  .ok());
  EXPECT_EQ(all, (std::vector<uint64_t>{e1.id(), e2.id()}));
  v1::ExportEntriesRequest active;
  active.mutable_filter()->add_states(v1::VETTING_STATE_ACTIVE);
  std::vector<uint64_t> live;
  ASSERT_TRUE(core_
                  ->ExportEntries(active,
                                  [&](const Entry& e) {
                                    live.push_back(e.id());
                                    return absl::OkStatus();
                                  })
                  .ok());
  EXPECT_EQ(live, std::vector<uint64_t>{e2.id()});
  // The callback stops the export.
  EXPECT_EQ(core_
                ->ExportEntries(v1::ExportEntriesRequest(),
                                [](const Entry&) {
                                  return absl::CancelledError("client left");
                                })
                .code(),
            absl::StatusCode::kCancelled);
}

v1::Submission VideoSub(const std::string& ext, int frames, int seed) {
  v1::Submission s;
  s.set_external_id(ext);
  for (int i = 0; i < frames; ++i) {
    v1::VideoFrame* f = s.mutable_video_hashes()->add_frames();
    f->set_pdq(Pdq(seed + i));
    f->set_quality(80);
    f->set_frame_number(i * 12);
    f->set_timestamp_seconds(i * 0.5);
  }
  s.set_classification("V1");
  return s;
}

TEST_F(IngestCoreTest, VideoEntriesFromFrameHashes) {
  absl::StatusOr<v1::SubmitResponse> r =
      core_->Submit(a_, Req({VideoSub("video-1", 4, 10)}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->entries_size(), 1);
  const Entry e = Stored(r->entries(0).id());
  EXPECT_EQ(e.signal_type(), v1::SIGNAL_TYPE_VPDQ);
  EXPECT_EQ(e.state(), v1::VETTING_STATE_ACTIVE);
  ASSERT_EQ(e.video_frames_size(), 4);
  EXPECT_EQ(e.video_frames(3).pdq(), Pdq(13));
  EXPECT_DOUBLE_EQ(e.video_frames(3).timestamp_seconds(), 1.5);
  EXPECT_EQ(e.hash(), VideoFramesDigest(e.video_frames()));
  // The same frames again: the same entry, unchanged; other frames under
  // the same external id: ALREADY_EXISTS.
  r = core_->Submit(a_, Req({VideoSub("video-1", 4, 10)}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->entries(0).id(), e.id());
  EXPECT_EQ(
      core_->Submit(a_, Req({VideoSub("video-1", 3, 10)})).status().code(),
      absl::StatusCode::kAlreadyExists);
  // Another agency submitting the same frames endorses the same video.
  r = core_->Submit(b_, Req({VideoSub("their-id", 4, 10)}));
  ASSERT_TRUE(r.ok()) << r.status();

  auto code = [&](v1::Submission s, const v1::Principal& who) {
    return core_->Submit(who, Req({std::move(s)})).status();
  };
  EXPECT_EQ(code(VideoSub("empty", 0, 1), a_).code(),
            absl::StatusCode::kInvalidArgument);
  v1::Submission short_pdq = VideoSub("short", 2, 1);
  short_pdq.mutable_video_hashes()->mutable_frames(1)->set_pdq("abc");
  absl::Status st = code(short_pdq, a_);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("video frame 1: PDQ hash must be 32 bytes"),
            std::string::npos)
      << st;
  v1::Submission bad_quality = VideoSub("q", 2, 1);
  bad_quality.mutable_video_hashes()->mutable_frames(0)->set_quality(-1);
  EXPECT_EQ(code(bad_quality, a_).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(HashSub("one-hash", Pdq(1), v1::SIGNAL_TYPE_VPDQ), a_).code(),
            absl::StatusCode::kInvalidArgument);
  // Video bytes: only with may_submit_media, and they must be a video.
  v1::Submission bytes;
  bytes.set_external_id("clip");
  bytes.set_video(std::string(3000, 'v'));
  EXPECT_EQ(code(bytes, a_).code(), absl::StatusCode::kPermissionDenied);
  st = code(bytes, Agency("media-agency", /*media=*/true));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("submission 0: video: "), std::string::npos)
      << st;
  IngestOptions few;
  few.max_video_frames = 3;
  Open(few);
  EXPECT_EQ(code(VideoSub("long", 4, 50), a_).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(IngestCoreTest, LimitsGiveSpecificErrors) {
  IngestOptions o;
  o.max_batch = 3;
  Open(o);
  auto code = [&](std::vector<v1::Submission> subs) {
    return core_->Submit(a_, Req(std::move(subs))).status().code();
  };
  EXPECT_EQ(code({HashSub("1", Pdq(1)), HashSub("2", Pdq(2)),
                  HashSub("3", Pdq(3)), HashSub("4", Pdq(4))}),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(code({}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({HashSub(std::string(257, 'x'), Pdq(1))}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({HashSub(std::string(256, 'x'), Pdq(1))}),
            absl::StatusCode::kOk);
  EXPECT_EQ(code({HashSub("", Pdq(1))}), absl::StatusCode::kInvalidArgument);
  v1::Submission long_note = HashSub("n", Pdq(1));
  long_note.set_note(std::string(4097, 'n'));
  EXPECT_EQ(code({long_note}), absl::StatusCode::kInvalidArgument);
  long_note.set_note(std::string(4096, 'n'));
  EXPECT_EQ(code({long_note}), absl::StatusCode::kOk);
  EXPECT_EQ(code({HashSub("short", Pdq(1).substr(1))}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({HashSub("sig", Pdq(1), v1::SIGNAL_TYPE_UNSPECIFIED)}),
            absl::StatusCode::kInvalidArgument);
  v1::Submission both = HashSub("both", Pdq(1));
  both.mutable_hash()->set_hex(BytesToHex(Pdq(1)));
  EXPECT_EQ(code({both}), absl::StatusCode::kInvalidArgument);
  v1::Submission badhex = HashSub("hex", "");
  badhex.mutable_hash()->set_hex(std::string(64, 'z'));
  absl::Status s = core_->Submit(a_, Req({badhex})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("submission 0"), std::string::npos) << s;
  v1::Submission quality = HashSub("q", Pdq(9));
  quality.mutable_hash()->set_quality(101);
  EXPECT_EQ(code({quality}), absl::StatusCode::kInvalidArgument);
  v1::Submission empty;
  empty.set_external_id("e");
  EXPECT_EQ(code({empty}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({HashSub("dup", Pdq(1)), HashSub("dup", Pdq(2))}),
            absl::StatusCode::kInvalidArgument);
  v1::ConfirmRequest c;
  EXPECT_EQ(core_->Confirm(b_, c).status().code(),
            absl::StatusCode::kInvalidArgument);  // No entry id.
}

TEST_F(IngestCoreTest, BatchWithOneBadItemStoresNothing) {
  SubmitOne(a_, "taken", Pdq(1));
  const uint64_t seq = store_->LastSequence();
  const size_t events = audit_.events().size();
  // Fails validation (third item).
  v1::Submission bad = HashSub("3", Pdq(3));
  bad.mutable_hash()->set_raw("short");
  EXPECT_EQ(
      core_
          ->Submit(a_, Req({HashSub("1", Pdq(10)), HashSub("2", Pdq(11)), bad}))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  // Fails against the store (third item changes the hash of a live key).
  EXPECT_EQ(core_
                ->Submit(a_, Req({HashSub("1", Pdq(10)), HashSub("2", Pdq(11)),
                                  HashSub("taken", Pdq(2))}))
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->LastSequence(), seq);
  EXPECT_EQ(audit_.events().size(), events);
  for (const char* ext : {"1", "2"}) {
    EXPECT_EQ(store_->FindExternal("hotline-a", ext).status().code(),
              absl::StatusCode::kNotFound);
  }
}

TEST_F(IngestCoreTest, ImageSubmissionHashesIntoThreeEntriesAndNeedsMedia) {
  const std::string path = DemoPhotos({}).seeded;
  absl::StatusOr<std::string> bytes = ReadFileToString(path, 64 << 20);
  ASSERT_TRUE(bytes.ok()) << bytes.status() << " (apt-get install "
                          << kDemoPackage << ")";
  v1::Submission img;
  img.set_external_id("photo-1");
  img.set_image(*bytes);
  img.set_classification("B2");
  EXPECT_EQ(core_->Submit(a_, Req({img})).status().code(),
            absl::StatusCode::kPermissionDenied);

  const v1::Principal media = Agency("hotline-m", /*media=*/true);
  absl::StatusOr<v1::SubmitResponse> r = core_->Submit(media, Req({img}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->entries_size(), 3);
  ImageHasher hasher;
  static constexpr Algorithm kPdq[] = {Algorithm::kPdq};
  absl::StatusOr<ImageHashes> want = hasher.HashBytes(*bytes, kPdq, {});
  ASSERT_TRUE(want.ok());
  const Entry& p = r->entries(0);
  EXPECT_EQ(p.signal_type(), v1::SIGNAL_TYPE_PDQ);
  EXPECT_EQ(BytesToHex(p.hash()), want->results[0].hex);
  EXPECT_EQ(p.quality(), *want->results[0].quality);
  EXPECT_EQ(p.external_id(), "photo-1:pdq");
  EXPECT_EQ(r->entries(1).signal_type(), v1::SIGNAL_TYPE_MD5);
  EXPECT_EQ(r->entries(1).hash(), Md5(*bytes));
  EXPECT_EQ(r->entries(1).external_id(), "photo-1:md5");
  EXPECT_EQ(r->entries(2).hash(), Sha256(*bytes));
  EXPECT_EQ(r->entries(2).external_id(), "photo-1:sha256");
  for (const Entry& e : r->entries()) {
    EXPECT_EQ(e.classification(), "B2");
    EXPECT_EQ(e.state(), v1::VETTING_STATE_ACTIVE);
  }
  // The image bytes are nowhere in the store or the audit events.
  const std::string marker = bytes->substr(bytes->size() / 2, 64);
  ASSERT_TRUE(core_
                  ->ExportEntries({},
                                  [&](const Entry& e) {
                                    EXPECT_EQ(
                                        e.SerializeAsString().find(marker),
                                        std::string::npos);
                                    return absl::OkStatus();
                                  })
                  .ok());
  for (const AuditEvent& ev : audit_.events()) {
    EXPECT_EQ(ev.state_after.find(marker), std::string::npos);
  }

  // Not an image: INVALID_ARGUMENT, nothing stored.
  const uint64_t seq = store_->LastSequence();
  v1::Submission junk;
  junk.set_external_id("photo-2");
  junk.set_image("definitely not an image");
  EXPECT_EQ(
      core_->Submit(media, Req({HashSub("h", Pdq(1)), junk})).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->LastSequence(), seq);
  // Over the image limit: RESOURCE_EXHAUSTED.
  IngestOptions small;
  small.image_decode.max_encoded_bytes = 1000;
  Open(small);
  EXPECT_EQ(core_->Submit(media, Req({img})).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(IngestCoreTest, AuditFailureKeepsTheChangeAndRefusesLaterMutations) {
  Entry e = SubmitOne(a_, "case-1", Pdq(1));
  audit_.set_fail(true);
  v1::ConfirmRequest c;
  c.set_entry_id(e.id());
  absl::Status s = core_->Confirm(b_, c).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("committed (store sequence 2)"), std::string::npos)
      << s;
  EXPECT_EQ(Stored(e.id()).endorsements_size(), 2);
  audit_.set_fail(false);
  absl::Status later =
      core_->Submit(a_, Req({HashSub("case-2", Pdq(2))})).status();
  EXPECT_EQ(later.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(later.message().find("restart"), std::string::npos) << later;
  EXPECT_EQ(store_->LastSequence(), 2u);
  // Reads still work.
  v1::GetEntryRequest g;
  g.set_entry_id(e.id());
  EXPECT_TRUE(core_->GetEntry(g).ok());
}

TEST_F(IngestCoreTest, ConcurrentConfirmsLoseNoEndorsement) {
  Open(Quorum(5));
  Entry e = SubmitOne(a_, "case-1", Pdq(1));
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      v1::ConfirmRequest c;
      c.set_entry_id(e.id());
      if (core_->Confirm(Agency(absl::StrCat("agency-", t)), c).ok()) ++ok;
      v1::DisputeRequest d;
      d.set_entry_id(e.id());
      d.set_reason(absl::StrCat("r", t));
      if (core_->Dispute(WithRole(absl::StrCat("p", t), v1::ROLE_PLATFORM), d)
              .ok()) {
        ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 2 * kThreads);
  Entry after = Stored(e.id());
  EXPECT_EQ(after.endorsements_size(), kThreads + 1);
  EXPECT_EQ(after.disputes_size(), kThreads);
  EXPECT_EQ(after.state(), v1::VETTING_STATE_ACTIVE);
  // Audit events follow store order.
  std::vector<AuditEvent> ev = audit_.events();
  ASSERT_EQ(ev.size(), 1u + 2 * kThreads);
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].store_sequence, i + 1);
  }
}

TEST(IngestOptionsTest, ValidateRejectsOutOfRange) {
  IngestOptions o;
  EXPECT_TRUE(IngestCore::ValidateOptions(o).ok());
  o.quorum = 0;
  EXPECT_EQ(IngestCore::ValidateOptions(o).code(),
            absl::StatusCode::kInvalidArgument);
  o = IngestOptions();
  o.default_page_size = 2000;
  EXPECT_EQ(IngestCore::ValidateOptions(o).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
