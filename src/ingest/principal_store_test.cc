#include "src/ingest/principal_store.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "principal_store_XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

v1::Principal Make(const std::string& name, v1::Role role) {
  v1::Principal p;
  p.set_name(name);
  p.add_roles(role);
  return p;
}

PrincipalStoreOptions FixedClock(int64_t* now) {
  PrincipalStoreOptions o;
  o.now_micros = [now] { return *now; };
  return o;
}

TEST(PrincipalStoreTest, AddIssuesATokenKeptOnlyAsItsDigestAndSurvivesReopen) {
  TempDir dir;
  int64_t now = 1000;
  std::string token;
  {
    auto store = PrincipalStore::Open(dir.path() + "/p", FixedClock(&now));
    ASSERT_TRUE(store.ok()) << store.status();
    v1::Principal p = Make("hotline-a", v1::ROLE_AGENCY);
    p.set_has_token(false);       // Ignored: set by the server.
    p.set_revoked_at_micros(77);  // Ignored.
    p.set_note("first agency");
    auto added = (*store)->Add(p, /*issue_token=*/true);
    ASSERT_TRUE(added.ok()) << added.status();
    token = added->token;
    EXPECT_TRUE(added->principal.has_token());
    EXPECT_EQ(added->principal.created_at_micros(), 1000);
    EXPECT_EQ(added->principal.revoked_at_micros(), 0);
    // "hm_" + 43 base64url characters of 32 random bytes.
    ASSERT_EQ(token.size(), 46u);
    EXPECT_EQ(token.substr(0, 3), "hm_");
    for (char c : token) EXPECT_TRUE(isalnum(c) || c == '_' || c == '-') << c;
  }
  const std::string file = ReadAll(dir.path() + "/p/principals.pb");
  EXPECT_EQ(file.find(token), std::string::npos) << "token stored in clear";
  EXPECT_EQ(file.find(token.substr(3)), std::string::npos);
  struct stat st;
  ASSERT_EQ(stat((dir.path() + "/p/principals.pb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto store = PrincipalStore::Open(dir.path() + "/p", FixedClock(&now));
  ASSERT_TRUE(store.ok()) << store.status();
  std::optional<v1::Principal> found = (*store)->FindByToken(token);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->name(), "hotline-a");
  EXPECT_EQ(found->note(), "first agency");
  EXPECT_FALSE((*store)->FindByToken(token + "x").has_value());
  EXPECT_FALSE((*store)->FindByToken("").has_value());
}

TEST(PrincipalStoreTest, TokensAreDistinct) {
  TempDir dir;
  auto store = PrincipalStore::Open(dir.path(), {});
  ASSERT_TRUE(store.ok());
  auto a = (*store)->Add(Make("a", v1::ROLE_AGENCY), true);
  auto b = (*store)->Add(Make("b", v1::ROLE_AGENCY), true);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->token, b->token);
  EXPECT_EQ((*store)->FindByToken(a->token)->name(), "a");
  EXPECT_EQ((*store)->FindByToken(b->token)->name(), "b");
}

TEST(PrincipalStoreTest, NamesAndRolesAreValidated) {
  TempDir dir;
  auto store = PrincipalStore::Open(dir.path(), {});
  ASSERT_TRUE(store.ok());
  for (const std::string& bad :
       {std::string(""), std::string(129, 'a'), std::string("a b"),
        std::string("a/b"), std::string("ä"), std::string("a\nb")}) {
    auto r = (*store)->Add(Make(bad, v1::ROLE_AGENCY), true);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(
      (*store)->Add(Make(std::string(128, 'z'), v1::ROLE_AGENCY), true).ok());
  EXPECT_TRUE((*store)->Add(Make("A-z0.9_:@x", v1::ROLE_AGENCY), true).ok());

  v1::Principal no_role;
  no_role.set_name("nobody");
  EXPECT_EQ((*store)->Add(no_role, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::Principal twice = Make("twice", v1::ROLE_AGENCY);
  twice.add_roles(v1::ROLE_AGENCY);
  EXPECT_EQ((*store)->Add(twice, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::Principal unknown = Make("unknown", v1::ROLE_AGENCY);
  unknown.add_roles(static_cast<v1::Role>(42));
  EXPECT_EQ((*store)->Add(unknown, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::Principal no_way = Make("noway", v1::ROLE_AGENCY);
  absl::Status s = (*store)->Add(no_way, /*issue_token=*/false).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("no way to authenticate"), std::string::npos);
  v1::Principal media = Make("media", v1::ROLE_PLATFORM);
  media.set_may_submit_media(true);
  EXPECT_EQ((*store)->Add(media, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::Principal long_note = Make("note", v1::ROLE_AGENCY);
  long_note.set_note(std::string(1025, 'n'));
  EXPECT_EQ((*store)->Add(long_note, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->size(), 2u);
}

TEST(PrincipalStoreTest, RevokeKeepsTheRecordAndNamesAreNeverReused) {
  TempDir dir;
  int64_t now = 5;
  auto store = PrincipalStore::Open(dir.path(), FixedClock(&now));
  ASSERT_TRUE(store.ok());
  auto added = (*store)->Add(Make("p1", v1::ROLE_PLATFORM), true);
  ASSERT_TRUE(added.ok());
  now = 9;
  auto revoked = (*store)->Revoke("p1");
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(revoked->revoked_at_micros(), 9);
  EXPECT_EQ((*store)->Revoke("p1").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*store)->Revoke("p2").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->Add(Make("p1", v1::ROLE_PLATFORM), true).status().code(),
            absl::StatusCode::kAlreadyExists);
  // Still found (the authenticator refuses it as revoked).
  EXPECT_EQ((*store)->FindByToken(added->token)->revoked_at_micros(), 9);
  EXPECT_TRUE((*store)->List(false).empty());
  ASSERT_EQ((*store)->List(true).size(), 1u);

  auto reopened = PrincipalStore::Open(dir.path(), {});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Find("p1")->revoked_at_micros(), 9);
}

TEST(PrincipalStoreTest, HasActiveAdminAndLimit) {
  TempDir dir;
  PrincipalStoreOptions o;
  o.max_principals = 2;
  auto store = PrincipalStore::Open(dir.path(), o);
  ASSERT_TRUE(store.ok());
  EXPECT_FALSE((*store)->HasActiveAdmin());
  ASSERT_TRUE((*store)->Add(Make("root", v1::ROLE_ADMIN), true).ok());
  EXPECT_TRUE((*store)->HasActiveAdmin());
  ASSERT_TRUE((*store)->Add(Make("b", v1::ROLE_AUDITOR), true).ok());
  EXPECT_EQ((*store)->Add(Make("c", v1::ROLE_AUDITOR), true).status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE((*store)->Revoke("root").ok());
  EXPECT_FALSE((*store)->HasActiveAdmin());
}

TEST(PrincipalStoreTest, FailedWriteChangesNothing) {
  TempDir dir;
  auto store = PrincipalStore::Open(dir.path(), {});
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Add(Make("a", v1::ROLE_AGENCY), true).ok());
  // A directory where the temporary file goes makes the write fail (also
  // as root).
  ASSERT_EQ(mkdir((dir.path() + "/principals.pb.tmp").c_str(), 0700), 0);
  absl::Status s = (*store)->Add(Make("b", v1::ROLE_AGENCY), true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("principals.pb.tmp"), std::string::npos)
      << s.message();
  EXPECT_FALSE((*store)->Find("b").has_value());
  EXPECT_EQ((*store)->Revoke("a").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ((*store)->Find("a")->revoked_at_micros(), 0);
  rmdir((dir.path() + "/principals.pb.tmp").c_str());
  auto reopened = PrincipalStore::Open(dir.path(), {});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->size(), 1u);
}

TEST(PrincipalStoreTest, DamagedFileIsDataLoss) {
  TempDir dir;
  {
    auto store = PrincipalStore::Open(dir.path(), {});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Add(Make("a", v1::ROLE_AGENCY), true).ok());
  }
  const std::string path = dir.path() + "/principals.pb";
  std::string bytes = ReadAll(path);
  for (size_t at : {size_t{2}, size_t{12}, bytes.size() - 1}) {
    std::string damaged = bytes;
    damaged[at] ^= 0x01;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << damaged;
    auto store = PrincipalStore::Open(dir.path(), {});
    EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << at;
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      << bytes.substr(0, bytes.size() - 5);
  EXPECT_EQ(PrincipalStore::Open(dir.path(), {}).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(PrincipalStoreTest, EncodeDecodeRoundTrip) {
  std::vector<std::pair<v1::Principal, std::string>> records = {
      {Make("a", v1::ROLE_AGENCY), std::string(32, 'd')},
      {Make("b", v1::ROLE_AUDITOR), ""}};
  records[1].first.set_allow_certificate(true);
  auto decoded = DecodePrincipalTable(EncodePrincipalTable(records));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].first.name(), "a");
  EXPECT_EQ((*decoded)[0].second, std::string(32, 'd'));
  EXPECT_TRUE((*decoded)[1].first.allow_certificate());
  EXPECT_EQ((*decoded)[1].second, "");
  auto empty = DecodePrincipalTable(EncodePrincipalTable({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(PrincipalStoreTest, LookupsRunConcurrentlyWithChanges) {
  TempDir dir;
  auto store = PrincipalStore::Open(dir.path(), {});
  ASSERT_TRUE(store.ok());
  auto first = (*store)->Add(Make("first", v1::ROLE_AGENCY), true);
  ASSERT_TRUE(first.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> lookups{0};
  std::vector<std::thread> readers;
  constexpr int kReaders = 3;
  // Waits until a lookup that started after this call has finished (each
  // reader may finish one that started before), so lookups and changes
  // interleave whatever the scheduler does; false after 60 s.
  auto wait_for_a_new_lookup = [&] {
    const int target = lookups.load() + kReaders + 1;
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (lookups.load() < target) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::yield();
    }
    return true;
  };
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        std::optional<v1::Principal> p = (*store)->FindByToken(first->token);
        EXPECT_TRUE(p.has_value());
        EXPECT_FALSE((*store)->FindByToken("hm_nobody").has_value());
        (*store)->List(true);
        lookups.fetch_add(1);
      }
    });
  }
  std::vector<std::string> tokens;
  bool interleaved = true;
  for (int i = 0; i < 20 && interleaved; ++i) {
    interleaved = wait_for_a_new_lookup();
    auto added =
        (*store)->Add(Make("p" + std::to_string(i), v1::ROLE_PLATFORM), true);
    ASSERT_TRUE(added.ok()) << added.status();
    tokens.push_back(added->token);
    if (i % 2 == 0) {
      interleaved = interleaved && wait_for_a_new_lookup();
      ASSERT_TRUE((*store)->Revoke(added->principal.name()).ok());
    }
  }
  stop.store(true);
  for (std::thread& t : readers) t.join();
  ASSERT_TRUE(interleaved) << "the readers stopped looking up";
  for (int i = 0; i < 20; ++i) {
    std::optional<v1::Principal> p = (*store)->FindByToken(tokens[i]);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->name(), "p" + std::to_string(i));
    EXPECT_EQ(p->revoked_at_micros() != 0, i % 2 == 0);
  }
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
