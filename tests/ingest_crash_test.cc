// ingest_server end to end: SIGKILL in the middle of a SubmitStream. Every
// acknowledged request is in the store after a restart, and no request is
// half there.
//
// The client streams requests of kPerRequest hashes each (one in flight: a
// request is written, its response read, then the next), while another
// thread SIGKILLs the server once enough have been acknowledged. After a
// restart on the same --data directory, every acknowledged entry is read
// back by (agency, external id) with the same id and hash, and every
// request, acknowledged or not, is either wholly present or wholly absent
// (an export of all entries counts them per request).
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using testing_util::ServerProcess;
using testing_util::TempDir;

constexpr int kPerRequest = 100;

std::string HashOf(int request, int item) {
  std::string h(32, '\0');
  uint64_t x = static_cast<uint64_t>(request) * 1000003u +
               static_cast<uint64_t>(item) * 7919u + 1;
  for (char& c : h) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x & 0xff);
  }
  return h;
}

std::string ExternalId(int request, int item) {
  return absl::StrCat("r", request, "-", item);
}

v1::SubmitRequest Request(int request) {
  v1::SubmitRequest r;
  for (int i = 0; i < kPerRequest; ++i) {
    v1::Submission* s = r.add_submissions();
    s->set_external_id(ExternalId(request, i));
    s->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    s->mutable_hash()->set_raw(HashOf(request, i));
    s->set_classification("test");
  }
  return r;
}

class IngestCrashTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }

  // Starts ingest_server on DIR/data; returns its port.
  int StartServer(ServerProcess* server, int run) {
    const std::string port_file = absl::StrCat(dir_.path(), "/port", run);
    absl::Status s = server->Start(
        INGEST_SERVER_BINARY,
        {"--data", dir_.path() + "/data", "--listen", "127.0.0.1:0",
         "--port_file", port_file, "--metrics_listen", "", "--bootstrap_admin",
         "admin", "--bootstrap_token_file", dir_.path() + "/admin.token"},
        dir_.path());
    EXPECT_TRUE(s.ok()) << s;
    absl::StatusOr<int> port = server->WaitForPortFile(port_file);
    EXPECT_TRUE(port.ok()) << port.status();
    return port.ok() ? *port : 0;
  }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token,
                                           int seconds = 30) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(seconds));
    c->AddMetadata("authorization", "Bearer " + token);
    return c;
  }

  std::shared_ptr<grpc::Channel> Channel(int port) {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                               grpc::InsecureChannelCredentials());
  }

  TempDir dir_{"ingest_crash_test"};
};

TEST_F(IngestCrashTest, KillNineMidStreamKeepsEveryAcknowledgedRequestWhole) {
  ServerProcess server;
  int port = StartServer(&server, 1);
  ASSERT_GT(port, 0);
  const std::string admin_token(absl::StripAsciiWhitespace(
      testing_util::ReadWholeFile(dir_.path() + "/admin.token")));
  ASSERT_FALSE(admin_token.empty());

  // An agency principal with a token.
  auto admin = v1::AdminService::NewStub(Channel(port));
  v1::AddPrincipalRequest add;
  add.mutable_principal()->set_name("hotline-a");
  add.mutable_principal()->add_roles(v1::ROLE_AGENCY);
  add.set_issue_token(true);
  v1::AddPrincipalResponse added;
  grpc::Status st = admin->AddPrincipal(Ctx(admin_token).get(), add, &added);
  ASSERT_TRUE(st.ok()) << st.error_message();
  const std::string token = added.token();
  ASSERT_FALSE(token.empty());

  auto ingest = v1::IngestService::NewStub(Channel(port));
  // The stream: acknowledged requests and their entries.
  std::mutex mu;
  std::map<int, v1::SubmitResponse> acked;
  std::atomic<int> acked_count{0};
  std::atomic<int> written{0};
  grpc::Status stream_status;
  std::thread client([&] {
    auto ctx = Ctx(token, 120);
    auto stream = ingest->SubmitStream(ctx.get());
    for (int k = 0; k < 100000; ++k) {
      if (!stream->Write(Request(k))) break;
      written = k + 1;
      v1::SubmitResponse r;
      if (!stream->Read(&r)) break;
      {
        std::lock_guard<std::mutex> lock(mu);
        acked[k] = r;
      }
      ++acked_count;
    }
    stream_status = stream->Finish();
  });
  // Kill once some requests are acknowledged, while the stream runs.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (acked_count.load() < 20 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Then a random 0..20 ms more, so the kill lands at varying points of a
  // request: before it arrives, during its commit, or after the commit and
  // before the acknowledgement.
  std::random_device seed;
  const int delay_us = static_cast<int>(seed() % 20000);
  std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
  ASSERT_TRUE(server.Signal(SIGKILL));
  EXPECT_EQ(server.Wait(), 128 + SIGKILL);
  client.join();
  EXPECT_FALSE(stream_status.ok());
  const int n_acked = acked_count.load();
  const int n_written = written.load();
  ASSERT_GE(n_acked, 20);
  // Acknowledged requests are consecutive from 0.
  ASSERT_EQ(static_cast<int>(acked.size()), n_acked);
  ASSERT_EQ(acked.rbegin()->first, n_acked - 1);

  // Restart on the same data.
  ServerProcess again;
  port = StartServer(&again, 2);
  ASSERT_GT(port, 0);
  ingest = v1::IngestService::NewStub(Channel(port));

  // Every acknowledged entry is there, as acknowledged.
  for (const auto& [k, response] : acked) {
    ASSERT_EQ(response.entries_size(), kPerRequest) << k;
    for (int i = 0; i < kPerRequest; ++i) {
      v1::GetEntryRequest g;
      g.mutable_external()->set_agency("hotline-a");
      g.mutable_external()->set_external_id(ExternalId(k, i));
      v1::Entry e;
      st = ingest->GetEntry(Ctx(token).get(), g, &e);
      ASSERT_TRUE(st.ok()) << ExternalId(k, i) << ": " << st.error_message();
      EXPECT_EQ(e.id(), response.entries(i).id());
      EXPECT_EQ(e.hash(), HashOf(k, i));
      EXPECT_EQ(e.state(), v1::VETTING_STATE_ACTIVE);
    }
  }
  // Per request, every entry or none: count the export by request.
  std::map<int, int> per_request;
  {
    auto ctx = Ctx(token);
    auto reader = ingest->ExportEntries(ctx.get(), v1::ExportEntriesRequest());
    v1::Entry e;
    while (reader->Read(&e)) {
      const std::string& ext = e.external_id();
      ASSERT_EQ(ext[0], 'r') << ext;
      ++per_request[std::stoi(ext.substr(1, ext.find('-') - 1))];
    }
    st = reader->Finish();
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  int present = 0;
  for (const auto& [k, count] : per_request) {
    EXPECT_EQ(count, kPerRequest) << "request " << k << " is half there";
    EXPECT_LT(k, n_written) << "request " << k << " was never sent";
    ++present;
  }
  // Acknowledged ones, plus at most the one in flight at the kill.
  EXPECT_GE(present, n_acked);
  EXPECT_LE(present, n_acked + 1);
  std::cerr << "killed " << delay_us << " us after 20 acknowledgements; "
            << "acknowledged " << n_acked << " requests of " << kPerRequest
            << " entries, written " << n_written << ", present after restart "
            << present << "\n";

  // The restarted server takes the stream again from where it stopped.
  auto ctx = Ctx(token);
  auto stream = ingest->SubmitStream(ctx.get());
  ASSERT_TRUE(stream->Write(Request(n_acked)));  // Idempotent if present.
  v1::SubmitResponse r;
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_EQ(r.entries_size(), kPerRequest);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(again.Stop(SIGTERM), 0) << again.Stderr();
}

}  // namespace
}  // namespace hashmatch
