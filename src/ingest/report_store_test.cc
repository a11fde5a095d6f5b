// ReportStore on a real RocksDB directory: ids, idempotency scoped to the
// match server, the entry and agency indexes, and reopen.
#include "src/ingest/report_store.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;

v1::MatchReport Report(const std::string& server, const std::string& key,
                       std::vector<std::pair<uint64_t, std::string>> matches) {
  v1::MatchReport r;
  r.set_match_server(server);
  r.set_report_key(key);
  r.set_content_ref("upload-" + key);
  for (const auto& [entry, agency] : matches) {
    v1::ReportedMatch* m = r.add_matches();
    m->set_entry_id(entry);
    m->set_source_agency(agency);
  }
  return r;
}

std::vector<uint64_t> Ids(const ReportStore& store, int which,
                          uint64_t entry = 0, const std::string& agency = "",
                          uint64_t after = 0) {
  std::vector<uint64_t> ids;
  auto fn = [&](const v1::MatchReport& r) {
    ids.push_back(r.report_id());
    return true;
  };
  absl::Status s = which == 0   ? store.ForEach(after, fn)
                   : which == 1 ? store.ForEachOfEntry(entry, after, fn)
                                : store.ForEachOfAgency(agency, after, fn);
  EXPECT_TRUE(s.ok()) << s;
  return ids;
}

TEST(ReportStoreTest, AssignsIdsIndexesAndDeduplicates) {
  testing_util::TempDir dir("report_store_test");
  auto store = ReportStore::Open(dir.path() + "/reports", ReportStoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->last_id(), 0u);

  auto ids =
      (*store)->Append({Report("ms-1", "a", {{7, "agency-a"}}),
                        Report("ms-1", "b", {{7, "agency-a"}, {9, "agency-b"}}),
                        Report("ms-1", "a", {{7, "agency-a"}})});
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<uint64_t>{1, 2, 1}));  // "a" twice: one id

  // Redelivery of "b" from ms-1 is not stored again; the same key from
  // another match server is a different report.
  ids = (*store)->Append({Report("ms-1", "b", {{9, "agency-b"}}),
                          Report("ms-2", "b", {{9, "agency-b"}})});
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ((*store)->last_id(), 3u);

  EXPECT_EQ(Ids(**store, 0), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(Ids(**store, 0, 0, "", 1), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(Ids(**store, 1, 7), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Ids(**store, 1, 9), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(Ids(**store, 1, 8), (std::vector<uint64_t>{}));
  EXPECT_EQ(Ids(**store, 2, 0, "agency-a"), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Ids(**store, 2, 0, "agency-b"), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(Ids(**store, 2, 0, "agency-b", 2), (std::vector<uint64_t>{3}));
  // A prefix of an agency name is another agency.
  EXPECT_EQ(Ids(**store, 2, 0, "agency-"), (std::vector<uint64_t>{}));

  absl::StatusOr<v1::MatchReport> r = (*store)->Get(2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->report_id(), 2u);
  EXPECT_EQ(r->report_key(), "b");
  EXPECT_EQ(r->matches_size(), 2);  // the first delivery's content
  EXPECT_EQ((*store)->Get(4).status().code(), absl::StatusCode::kNotFound);
}

TEST(ReportStoreTest, SurvivesReopen) {
  testing_util::TempDir dir("report_store_test");
  const std::string path = dir.path() + "/reports";
  {
    auto store = ReportStore::Open(path, ReportStoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)
                    ->Append({Report("ms-1", "a", {{1, "x"}}),
                              Report("ms-1", "b", {{2, "x"}})})
                    .ok());
  }
  auto store = ReportStore::Open(path, ReportStoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->last_id(), 2u);
  auto ids = (*store)->Append(
      {Report("ms-1", "b", {{2, "x"}}), Report("ms-1", "c", {{2, "x"}})});
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<uint64_t>{2, 3}));
}

TEST(ReportStoreTest, RejectsReportsWithoutKeyOrServer) {
  testing_util::TempDir dir("report_store_test");
  auto store = ReportStore::Open(dir.path() + "/reports", ReportStoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Append({Report("", "a", {{1, "x"}})}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->Append({Report("ms", "", {{1, "x"}})}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->last_id(), 0u);
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
