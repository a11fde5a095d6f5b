// ReportQueue on a real RocksDB directory: durable across reopen, delivered
// at least once (removed only by Remove), bounded, group commit.
#include "src/server/report_queue.h"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace server {
namespace {

namespace v1 = ::hashmatch::v1;

v1::MatchReport Report(const std::string& ref) {
  v1::MatchReport r;
  r.set_content_ref(ref);
  r.add_matches()->set_entry_id(7);
  return r;
}

TEST(ReportQueueTest, SurvivesReopenAndRedeliversUntilRemoved) {
  testing_util::TempDir dir("report_queue_test");
  const std::string path = dir.path() + "/queue";
  std::string id;
  std::vector<ReportQueue::Item> first;
  {
    auto q = ReportQueue::Open(path, ReportQueueOptions());
    ASSERT_TRUE(q.ok()) << q.status();
    id = (*q)->queue_id();
    EXPECT_EQ(id.size(), 16u);
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE((*q)->Append(Report(absl::StrCat("ref-", i))).ok());
    }
    EXPECT_EQ((*q)->size(), 5);
    auto peek = (*q)->Peek(3);
    ASSERT_TRUE(peek.ok()) << peek.status();
    first = *peek;
    ASSERT_EQ(first.size(), 3u);
    EXPECT_EQ(first[0].sequence, 1u);
    EXPECT_EQ(first[0].report.report_key(), id + ":1");
    EXPECT_EQ(first[2].report.content_ref(), "ref-2");
    // Not acknowledged: nothing removed, a crash here loses nothing.
  }
  auto q = ReportQueue::Open(path, ReportQueueOptions());
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ((*q)->queue_id(), id);
  EXPECT_EQ((*q)->size(), 5);
  auto again = (*q)->Peek(3);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {  // the same reports, the same keys
    EXPECT_EQ((*again)[i].sequence, first[i].sequence);
    EXPECT_EQ((*again)[i].report.report_key(), first[i].report.report_key());
  }
  ASSERT_TRUE((*q)->Remove(3).ok());  // acknowledged
  EXPECT_EQ((*q)->size(), 2);
  auto rest = (*q)->Peek(10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].sequence, 4u);
  ASSERT_TRUE((*q)->Remove(5).ok());
  EXPECT_EQ((*q)->size(), 0);
  q->reset();
  // Emptied, reopened: sequences (and so keys) are never reused.
  q = ReportQueue::Open(path, ReportQueueOptions());
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)->size(), 0);
  ASSERT_TRUE((*q)->Append(Report("later")).ok());
  auto later = (*q)->Peek(10);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->size(), 1u);
  EXPECT_EQ((*later)[0].sequence, 6u);
  EXPECT_EQ((*later)[0].report.report_key(), id + ":6");
}

TEST(ReportQueueTest, FullQueueRefusesAtOnceAndStoresNothing) {
  testing_util::TempDir dir("report_queue_test");
  ReportQueueOptions options;
  options.max_reports = 3;
  auto q = ReportQueue::Open(dir.path() + "/queue", options);
  ASSERT_TRUE(q.ok()) << q.status();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*q)->Append(Report("x")).ok());
  absl::Status full = (*q)->Append(Report("y"));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("report queue full (3"), std::string::npos)
      << full;
  EXPECT_EQ((*q)->size(), 3);
  ASSERT_TRUE((*q)->Remove(1).ok());
  EXPECT_TRUE((*q)->Append(Report("z")).ok());
  auto items = (*q)->Peek(10);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 3u);
  EXPECT_EQ(items->back().report.content_ref(), "z");
  EXPECT_EQ(items->back().sequence, 4u);
}

TEST(ReportQueueTest, ConcurrentAppendsShareCommitsAndKeepEveryReport) {
  testing_util::TempDir dir("report_queue_test");
  auto q = ReportQueue::Open(dir.path() + "/queue", ReportQueueOptions());
  ASSERT_TRUE(q.ok()) << q.status();
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        EXPECT_TRUE((*q)->Append(Report(absl::StrCat(t, "-", i))).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ((*q)->size(), kThreads * kEach);
  auto items = (*q)->Peek(kThreads * kEach + 1);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), static_cast<size_t>(kThreads * kEach));
  std::set<std::string> refs, keys;
  for (size_t i = 0; i < items->size(); ++i) {
    EXPECT_EQ((*items)[i].sequence, i + 1);
    refs.insert((*items)[i].report.content_ref());
    keys.insert((*items)[i].report.report_key());
  }
  EXPECT_EQ(refs.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(keys.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_LE((*q)->commits(), kThreads * kEach);
  std::printf("%d appends in %lld group commits\n", kThreads * kEach,
              static_cast<long long>((*q)->commits()));
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
