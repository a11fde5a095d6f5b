// The per-RPC cost of ingest_server authentication (PrincipalAuthenticator:
// SHA-256 of the bearer token, then a constant-time comparison with every
// stored digest) against its in-run baseline, the SHA-256 alone, at
// 10 / 100 / 1000 / 10000 principals. Prints ns per call and the ratio.
//
//   build/bench/principal_auth_bench [--calls N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "src/ingest/principal_authenticator.h"
#include "src/ingest/principal_store.h"
#include "src/server/token_auth.h"

namespace {

namespace v1 = ::hashmatch::v1;
using Clock = std::chrono::steady_clock;

double NsPer(Clock::duration d, int calls) {
  return std::chrono::duration<double, std::nano>(d).count() / calls;
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 20000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--calls") calls = std::atoi(argv[i + 1]);
  }
  std::string tmpl = std::filesystem::temp_directory_path().string() +
                     "/principal_auth_bench_XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return 1;
  std::printf("principals\tsha256_ns\tauthenticate_ns\tratio\n");
  for (int n : {10, 100, 1000, 10000}) {
    const std::string dir = tmpl + "/" + std::to_string(n);
    hashmatch::ingest::PrincipalStoreOptions options;
    options.max_principals = n;
    auto store = hashmatch::ingest::PrincipalStore::Open(dir, options);
    if (!store.ok()) return 1;
    // Built in memory through the table file (one Add per principal would
    // rewrite the file n times).
    std::vector<std::pair<v1::Principal, std::string>> records;
    std::string token;
    for (int i = 0; i < n; ++i) {
      v1::Principal p;
      p.set_name("agency-" + std::to_string(i));
      p.add_roles(v1::ROLE_AGENCY);
      p.set_has_token(true);
      const std::string t = "hm_token_" + std::to_string(i);
      if (i == n / 2) token = t;
      records.emplace_back(p, hashmatch::server::TokenDigest(t));
    }
    std::filesystem::create_directories(dir);
    {
      FILE* f = std::fopen((dir + "/principals.pb").c_str(), "wb");
      const std::string bytes =
          hashmatch::ingest::EncodePrincipalTable(records);
      std::fwrite(bytes.data(), 1, bytes.size(), f);
      std::fclose(f);
    }
    store = hashmatch::ingest::PrincipalStore::Open(dir, options);
    if (!store.ok() || (*store)->size() != static_cast<size_t>(n)) return 1;
    hashmatch::ingest::PrincipalAuthenticator auth(store->get());
    hashmatch::ingest::CallCredentials credentials;
    credentials.has_authorization = true;
    credentials.bearer_token = token;

    size_t sink = 0;
    auto start = Clock::now();
    for (int i = 0; i < calls; ++i) {
      sink += hashmatch::server::TokenDigest(token)[0];
    }
    const double base = NsPer(Clock::now() - start, calls);
    start = Clock::now();
    for (int i = 0; i < calls; ++i) {
      auto p = auth.Authenticate(credentials);
      if (!p.ok()) return 1;
      sink += p->name().size();
    }
    const double full = NsPer(Clock::now() - start, calls);
    std::printf("%d\t%.0f\t%.0f\t%.2f\n", n, base, full, full / base);
    if (sink == 0) std::printf("-\n");
  }
  std::filesystem::remove_all(tmpl);
  return 0;
}
