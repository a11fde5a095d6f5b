// Match reports end to end with real processes only: an ingest_server and a
// match_server (--follow, for the entries, and --report_to the same
// ingest_server). A MATCH is delivered once; with the ingest_server down the
// reports wait in the match server's queue and arrive after it restarts; a
// match server SIGKILLed with reports queued delivers them after its own
// restart. (A redelivery after a lost ack is covered against the real
// ReportServiceImpl in src/server/report_sender_test.cc.) And the ingestion
// server does not trust a replica's claims: a forged agency is refused, and
// a match server that follows an unrelated store gets its reports refused.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "tests/follower_process.h"
#include "tests/ingest_server_process.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using testing_util::FollowerProcess;
using testing_util::IngestServerProcess;

// Every stored report, as `token` sees them (all pages).
std::vector<v1::MatchReport> ListReports(IngestServerProcess& ingest,
                                         const std::string& token) {
  std::vector<v1::MatchReport> all;
  v1::ListReportsRequest request;
  for (;;) {
    v1::ListReportsResponse response;
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    grpc::Status s = v1::ReportService::NewStub(ingest.channel())
                         ->ListReports(&context, request, &response);
    if (!s.ok()) {
      ADD_FAILURE() << s.error_message();
      return all;
    }
    for (const v1::MatchReport& r : response.reports()) all.push_back(r);
    if (response.next_page_token().empty()) return all;
    request.set_page_token(response.next_page_token());
  }
}

bool WaitReports(IngestServerProcess& ingest, const std::string& token,
                 size_t n) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < end) {
    if (ListReports(ingest, token).size() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(MatchReportTest, MatchesReachTheIngestServerOnceEvenAcrossOutages) {
  testing_util::TempDir dir("match_report_test");
  ASSERT_FALSE(dir.path().empty());
  std::filesystem::create_directories(dir.path() + "/ingest");
  IngestServerProcess ingest(dir.path() + "/ingest");
  ASSERT_TRUE(ingest.Start().ok()) << ingest.process().Stderr();
  const std::string replica = ingest.AddPrincipal("ms-1", v1::ROLE_REPLICA);
  const std::string agency = ingest.AddPrincipal("agency-a", v1::ROLE_AGENCY);
  const std::string other = ingest.AddPrincipal("agency-b", v1::ROLE_AGENCY);
  const std::string auditor =
      ingest.AddPrincipal("auditor-1", v1::ROLE_AUDITOR);
  std::mt19937_64 rng(5);
  const std::string pdq = testing_util::RandomPdq(rng);
  const uint64_t id = ingest.Submit(agency, "e1", pdq);
  ASSERT_NE(id, 0u);

  FollowerProcess ms(dir.path() + "/ms", ingest.address(), replica);
  ms.extra_args = {"--report_to",         ingest.address(),
                   "--report_queue",      dir.path() + "/ms/queue",
                   "--report_token_file", dir.path() + "/ms/token"};
  ASSERT_TRUE(ms.Start().ok()) << ms.process().Stderr();
  // A follower serves once it has loaded the primary's snapshot, which has
  // the entry (submitted before it started): its first answer is a MATCH,
  // so exactly one report is owed. (Polling for the MATCH instead would owe
  // an unknown number of reports, still on their way when counted.)
  ASSERT_TRUE(ms.WaitServing()) << ms.process().Stderr();
  ASSERT_EQ(ms.Verdict(pdq), v1::VERDICT_MATCH);
  size_t expected = 1;
  ASSERT_TRUE(WaitReports(ingest, auditor, expected));
  std::vector<v1::MatchReport> reports = ListReports(ingest, auditor);
  ASSERT_EQ(reports.size(), expected);
  const v1::MatchReport& r = reports.back();
  EXPECT_EQ(r.match_server(), "ms-1");
  EXPECT_EQ(r.platform(), "");  // match_server without --tokens_file
  ASSERT_EQ(r.matches_size(), 1);
  EXPECT_EQ(r.matches(0).entry_id(), id);
  EXPECT_EQ(r.matches(0).source_agency(), "agency-a");
  EXPECT_EQ(r.matches(0).distance(), 0);
  ASSERT_EQ(r.query_hashes_size(), 1);
  EXPECT_EQ(r.query_hashes(0).hash(), pdq);
  EXPECT_GT(r.received_at_micros(), 0);
  EXPECT_GT(r.index_sequence(), 0u);
  EXPECT_EQ(ListReports(ingest, agency).size(), expected);
  EXPECT_TRUE(ListReports(ingest, other).empty());

  // The ingest_server down: MATCHes are still answered, their reports wait.
  const int port = ingest.port();
  EXPECT_EQ(ingest.process().Stop(SIGTERM), 0) << ingest.process().Stderr();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(ms.Verdict(pdq), v1::VERDICT_MATCH);
  }
  expected += 3;
  // The reports were queued before the answers; the sender fails to
  // deliver them (waited for, not slept on: a loaded machine is slow).
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (ms.Metric("failed_attempts", "hashmatch_reports") < 1 &&
         std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(ms.Metric("failed_attempts", "hashmatch_reports"), 1);
  EXPECT_EQ(ms.Metric("queue_depth", "hashmatch_reports"), 3);
  ASSERT_TRUE(ingest.Start(port).ok()) << ingest.process().Stderr();
  ASSERT_TRUE(WaitReports(ingest, auditor, expected));

  // Down again, and the match server SIGKILLed with 2 reports queued: they
  // are delivered by the restarted match server, once.
  EXPECT_EQ(ingest.process().Stop(SIGTERM), 0) << ingest.process().Stderr();
  ASSERT_EQ(ms.Verdict(pdq), v1::VERDICT_MATCH);
  ASSERT_EQ(ms.Verdict(pdq), v1::VERDICT_MATCH);
  expected += 2;
  ms.process().Stop(SIGKILL);
  ASSERT_TRUE(ingest.Start(port).ok()) << ingest.process().Stderr();
  ASSERT_TRUE(ms.Start().ok()) << ms.process().Stderr();
  ASSERT_TRUE(WaitReports(ingest, auditor, expected)) << ms.process().Stderr();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  reports = ListReports(ingest, auditor);
  EXPECT_EQ(reports.size(), expected);
  for (size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i].report_id(), i + 1);
  }

  // A MATCH with a content_ref that needs CSV quoting, then the authority's
  // export (`hashmatch reports export`) in both formats.
  {
    auto stub = v1::MatchService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:",
                     absl::StripAsciiWhitespace(
                         testing_util::ReadWholeFile(dir.path() + "/ms/port"))),
        grpc::InsecureChannelCredentials()));
    v1::MatchHashesRequest request;
    request.set_content_ref("upload \"7\", a");
    v1::QueryHash* q = request.add_hashes();
    q->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    q->set_raw(pdq);
    v1::MatchResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub->MatchHashes(&context, request, &response).ok());
    ASSERT_EQ(response.verdict(), v1::VERDICT_MATCH);
    ++expected;
    ASSERT_TRUE(WaitReports(ingest, auditor, expected));
  }
  const std::string csv_path = dir.path() + "/reports.csv";
  testing_util::RunResult csv = testing_util::RunBinary(
      HASHMATCH_BINARY,
      {"reports", "export", "--server", ingest.address(), "--token", auditor,
       "--format", "csv", "--out", csv_path});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const std::string text = testing_util::ReadWholeFile(csv_path);
  EXPECT_TRUE(absl::StartsWith(
      text, "report_id,report_key,match_server,platform,content_ref,"))
      << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'),
            static_cast<long>(expected + 1));
  EXPECT_TRUE(absl::StrContains(text, ",\"upload \"\"7\"\", a\",")) << text;
  EXPECT_TRUE(
      absl::StrContains(text, absl::StrCat(",", id, ",pdq,0,agency-a,A1\n")))
      << text;
  testing_util::RunResult jsonl = testing_util::RunBinary(
      HASHMATCH_BINARY, {"reports", "export", "--server", ingest.address(),
                         "--token", other, "--format", "jsonl"});
  ASSERT_EQ(jsonl.exit_code, 0) << jsonl.err;
  EXPECT_EQ(jsonl.out, "");  // agency-b has no reports
  jsonl = testing_util::RunBinary(
      HASHMATCH_BINARY, {"reports", "list", "--server", ingest.address(),
                         "--token", agency, "--page_size", "2"});
  ASSERT_EQ(jsonl.exit_code, 0) << jsonl.err;
  EXPECT_EQ(std::count(jsonl.out.begin(), jsonl.out.end(), '\n'), 2);
  EXPECT_TRUE(absl::StrContains(jsonl.out, "\"report_id\":1,"));
  EXPECT_TRUE(absl::StrContains(jsonl.err, "next_page_token "));
  testing_util::RunResult bad = testing_util::RunBinary(
      HASHMATCH_BINARY, {"reports", "export", "--server", ingest.address(),
                         "--token", auditor, "--format", "xml"});
  EXPECT_EQ(bad.exit_code, 2);

  EXPECT_EQ(ms.process().Stop(SIGTERM), 0) << ms.process().Stderr();
  EXPECT_EQ(ingest.process().Stop(SIGTERM), 0) << ingest.process().Stderr();
}

// Issue 14, defect 4, with real processes. Before the fix both were
// accepted: the forged report was shown to agency-b and hidden from agency-a,
// and the other store's report was stored.
TEST(MatchReportTest, ClaimsAreCheckedAgainstTheStore) {
  testing_util::TempDir dir("match_report_claims_test");
  ASSERT_FALSE(dir.path().empty());
  // The authority's ingest_server: agency-a's entries 1..3 (sequence 3).
  std::filesystem::create_directories(dir.path() + "/ingest");
  IngestServerProcess ingest(dir.path() + "/ingest");
  ASSERT_TRUE(ingest.Start().ok()) << ingest.process().Stderr();
  const std::string replica = ingest.AddPrincipal("ms-1", v1::ROLE_REPLICA);
  const std::string agency = ingest.AddPrincipal("agency-a", v1::ROLE_AGENCY);
  const std::string other = ingest.AddPrincipal("agency-b", v1::ROLE_AGENCY);
  const std::string auditor =
      ingest.AddPrincipal("auditor-1", v1::ROLE_AUDITOR);
  std::mt19937_64 rng(41);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(ingest.Submit(agency, absl::StrCat("e", i),
                            testing_util::RandomPdq(rng)),
              static_cast<uint64_t>(i));
  }

  // A replica claims agency-a's entry 1 for agency-b.
  {
    v1::SubmitReportsRequest request;
    v1::MatchReport* r = request.add_reports();
    r->set_report_key("forged-1");
    r->set_content_ref("upload-1");
    v1::ReportedMatch* m = r->add_matches();
    m->set_entry_id(1);
    m->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    m->set_source_agency("agency-b");
    v1::SubmitReportsResponse response;
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + replica);
    grpc::Status s = v1::ReportService::NewStub(ingest.channel())
                         ->SubmitReports(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << s.error_message();
    EXPECT_TRUE(
        absl::StrContains(s.error_message(), "belongs to agency \"agency-a\""))
        << s.error_message();
  }
  EXPECT_TRUE(ListReports(ingest, other).empty());

  // An unrelated store (another ingest_server): its entry 1 is agency-z's.
  std::filesystem::create_directories(dir.path() + "/unrelated");
  IngestServerProcess unrelated(dir.path() + "/unrelated");
  ASSERT_TRUE(unrelated.Start().ok()) << unrelated.process().Stderr();
  const std::string unrelated_replica =
      unrelated.AddPrincipal("ms-u", v1::ROLE_REPLICA);
  const std::string agency_z =
      unrelated.AddPrincipal("agency-z", v1::ROLE_AGENCY);
  const std::string pdq = testing_util::RandomPdq(rng);
  ASSERT_EQ(unrelated.Submit(agency_z, "z1", pdq), 1u);

  // A match server follows it and reports to the authority's server.
  testing_util::WriteWholeFile(dir.path() + "/report.token", replica + "\n");
  FollowerProcess ms(dir.path() + "/ms", unrelated.address(),
                     unrelated_replica);
  ms.extra_args = {"--report_to",         ingest.address(),
                   "--report_queue",      dir.path() + "/ms/queue",
                   "--report_token_file", dir.path() + "/report.token"};
  ASSERT_TRUE(ms.Start().ok()) << ms.process().Stderr();
  ASSERT_TRUE(ms.WaitServing()) << ms.process().Stderr();
  ASSERT_TRUE(ms.WaitVerdict(pdq, v1::VERDICT_MATCH));
  // Refused (FAILED_PRECONDITION) and dropped by the match server's sender,
  // not retried for ever.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < end &&
         (ms.Metric("dropped", "hashmatch_reports") < 1 ||
          ms.Metric("queue_depth", "hashmatch_reports") != 0)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(ms.Metric("dropped", "hashmatch_reports"), 1);
  EXPECT_EQ(ms.Metric("queue_depth", "hashmatch_reports"), 0);
  EXPECT_EQ(ms.Metric("delivered", "hashmatch_reports"), 0);
  EXPECT_TRUE(absl::StrContains(ms.process().Stderr(), "report_dropped"))
      << ms.process().Stderr();
  EXPECT_TRUE(absl::StrContains(ms.process().Stderr(), "FAILED_PRECONDITION"))
      << ms.process().Stderr();
  EXPECT_TRUE(ListReports(ingest, auditor).empty());
  EXPECT_TRUE(ListReports(ingest, agency).empty());

  EXPECT_EQ(ms.process().Stop(SIGTERM), 0) << ms.process().Stderr();
  EXPECT_EQ(unrelated.process().Stop(SIGTERM), 0)
      << unrelated.process().Stderr();
  EXPECT_EQ(ingest.process().Stop(SIGTERM), 0) << ingest.process().Stderr();
}

}  // namespace
}  // namespace hashmatch
