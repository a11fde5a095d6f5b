// TLS material for end-to-end tests, made at test time with the openssl CLI
// (never committed): a CA (DIR/ca.pem, ca.key), a server certificate for
// localhost/127.0.0.1 (server.pem, server.key) and client certificates
// signed by the CA, one per (file stem, subject CN) pair: STEM.pem, STEM.key.
//
//   ASSERT_TRUE(testing_util::MakeTlsFiles(dir, {{"client", "platform-a"}}));
//
// Failures are reported with ADD_FAILURE naming the command.
#ifndef HASHMATCH_TESTS_TLS_FILES_H_
#define HASHMATCH_TESTS_TLS_FILES_H_

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace testing_util {

inline bool MakeTlsFiles(
    const std::string& d,
    const std::vector<std::pair<std::string, std::string>>& clients = {
        {"client", "platform-a"}}) {
  const std::string ext = d + "/san.ext";
  if (!WriteWholeFile(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n")) {
    return false;
  }
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
  std::vector<std::string> commands = {
      absl::StrCat("openssl req -x509 ", key, " -nodes -keyout ", d,
                   "/ca.key -out ", d, "/ca.pem -days 1 -subj /CN=test-ca"),
      absl::StrCat("openssl req ", key, " -nodes -keyout ", d,
                   "/server.key -out ", d, "/server.csr -subj /CN=localhost"),
      absl::StrCat("openssl x509 -req -in ", d, "/server.csr -CA ", d,
                   "/ca.pem -CAkey ", d, "/ca.key -CAcreateserial -out ", d,
                   "/server.pem -days 1 -extfile ", ext),
  };
  for (const auto& [stem, cn] : clients) {
    commands.push_back(absl::StrCat("openssl req ", key, " -nodes -keyout ", d,
                                    "/", stem, ".key -out ", d, "/", stem,
                                    ".csr -subj /CN=", cn));
    commands.push_back(absl::StrCat("openssl x509 -req -in ", d, "/", stem,
                                    ".csr -CA ", d, "/ca.pem -CAkey ", d,
                                    "/ca.key -CAcreateserial -out ", d, "/",
                                    stem, ".pem -days 1"));
  }
  for (const std::string& c : commands) {
    if (std::system((c + " >/dev/null 2>&1").c_str()) != 0) {
      ADD_FAILURE() << "failed: " << c;
      return false;
    }
  }
  return true;
}

}  // namespace testing_util
}  // namespace hashmatch

#endif  // HASHMATCH_TESTS_TLS_FILES_H_
